//! The baseline of `provemesh bench mesh`: a bare JetStream loop doing what the mesh does
//! for a job, with none of its features. A work-queue stream with one consumer; workers
//! long-poll it in batches, publish a result per message (waiting for the server's ack),
//! then ack the message; results are read by an ordered consumer. Its messages carry as
//! many bytes as the mesh's (see [`RawShape`]), or none.

use super::{connect, percentiles, MeshBench, Meter};
use anyhow::Context as _;
use async_nats::jetstream::{self, consumer::pull, stream};
use bytes::{BufMut as _, Bytes, BytesMut};
use futures::StreamExt;
use provemesh_common::unix_micros;
use provemesh_harness::NatsServer;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// The bytes the raw loop's messages carry: as many as the mesh's job and result messages
/// (headers and payload, as the mesh's own encoders make them), so the baseline moves the
/// same data and the ratio measures what the mesh does beyond moving it; or none at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RawShape {
    pub job_len: usize,
    pub result_len: usize,
}

impl RawShape {
    pub const EMPTY: RawShape = RawShape {
        job_len: 0,
        result_len: 0,
    };

    /// A job's payload: `head` (a sequence number or a timestamp), then a space and filler
    /// up to `job_len` bytes.
    fn job(&self, head: &str) -> Bytes {
        let mut b = BytesMut::with_capacity(self.job_len.max(head.len()));
        b.put_slice(head.as_bytes());
        if b.len() < self.job_len {
            b.put_bytes(b' ', self.job_len - b.len());
        }
        b.freeze()
    }

    fn result(&self) -> Bytes {
        Bytes::from(vec![b'r'; self.result_len])
    }
}

impl MeshBench {
    async fn raw_setup(
        &self,
        url: &str,
        run: u64,
    ) -> anyhow::Result<(stream::Stream, stream::Stream)> {
        let js = connect(url).await?;
        let jobs = js
            .create_stream(stream::Config {
                name: format!("RAW_JOBS_{run}"),
                subjects: vec![format!("raw{run}.job")],
                retention: stream::RetentionPolicy::WorkQueue,
                ..Default::default()
            })
            .await?;
        let res = js
            .create_stream(stream::Config {
                name: format!("RAW_RES_{run}"),
                subjects: vec![format!("raw{run}.res")],
                ..Default::default()
            })
            .await?;
        jobs.create_consumer(pull::Config {
            durable_name: Some("w".into()),
            ack_wait: Duration::from_secs(30),
            max_ack_pending: 100_000,
            ..Default::default()
        })
        .await?;
        Ok((jobs, res))
    }

    /// Raw workers: long-poll the one consumer, publish a result per message (waiting for
    /// the server's ack), then ack the message.
    async fn raw_workers(
        &self,
        url: &str,
        run: u64,
        n: usize,
        shape: RawShape,
        lat: Arc<std::sync::Mutex<Vec<u64>>>,
    ) -> anyhow::Result<(CancellationToken, Vec<tokio::task::JoinHandle<()>>)> {
        let stop = CancellationToken::new();
        let result = shape.result();
        let mut handles = Vec::new();
        for _ in 0..n {
            let js = connect(url).await?;
            let consumer: jetstream::consumer::PullConsumer = js
                .get_stream(format!("RAW_JOBS_{run}"))
                .await?
                .get_consumer("w")
                .await
                .map_err(|e| anyhow::anyhow!(e))?;
            let (stop, lat, conc) = (stop.clone(), lat.clone(), self.concurrency);
            let result = result.clone();
            handles.push(tokio::spawn(async move {
                while !stop.is_cancelled() {
                    let Ok(mut batch) = consumer
                        .batch()
                        .max_messages(conc)
                        .expires(Duration::from_millis(200))
                        .messages()
                        .await
                    else {
                        continue;
                    };
                    let mut tasks = Vec::new();
                    while let Some(Ok(m)) = batch.next().await {
                        let head = m.payload.split(|&b| b == b' ').next().unwrap_or_default();
                        if let Ok(ts) = std::str::from_utf8(head).unwrap_or("").parse::<u64>() {
                            if let Ok(mut v) = lat.lock() {
                                v.push(unix_micros().saturating_sub(ts));
                            }
                        }
                        let (js, result) = (js.clone(), result.clone());
                        tasks.push(tokio::spawn(async move {
                            if let Ok(ack) = js.publish(format!("raw{run}.res"), result).await {
                                let _ = ack.await;
                            }
                            let _ = m.ack().await;
                        }));
                    }
                    for t in tasks {
                        let _ = t.await;
                    }
                }
            }));
        }
        Ok((stop, handles))
    }

    /// Opens the reader of the results the way the mesh run opens its own (before its
    /// clock starts): an ordered consumer of the results stream, nothing acknowledged.
    async fn raw_results(&self, url: &str, run: u64) -> anyhow::Result<pull::Ordered> {
        let js = connect(url).await?;
        let c = js
            .get_stream(format!("RAW_RES_{run}"))
            .await?
            .create_consumer(pull::OrderedConfig::default())
            .await?;
        Ok(c.messages().await?)
    }

    /// Reads `count` results.
    async fn raw_collect(&self, msgs: &mut pull::Ordered, count: usize) -> anyhow::Result<()> {
        let mut got = 0;
        while got < count {
            tokio::time::timeout(Duration::from_secs(60), msgs.next())
                .await
                .context("raw run stalled")?
                .context("ended")??;
            got += 1;
        }
        Ok(())
    }

    /// Throughput of `n` raw workers, and what the timed window (first publish to last
    /// result) cost the server and this process.
    pub(super) async fn raw_throughput(
        &self,
        url: &str,
        nats: &NatsServer,
        n: usize,
        run: u64,
        shape: RawShape,
    ) -> anyhow::Result<(f64, Meter)> {
        self.raw_setup(url, run).await?;
        let (stop, handles) = self.raw_workers(url, run, n, shape, Arc::default()).await?;
        let mut results = self.raw_results(url, run).await?;
        let js = connect(url).await?;
        let before = Meter::read(nats);
        let t0 = Instant::now();
        let count = self.jobs;
        let producer = tokio::spawn(async move {
            // The same bounded window of unacknowledged publishes as the broker's.
            let mut acks = std::collections::VecDeque::new();
            for i in 0..count {
                if acks.len() == 512 {
                    if let Some(a) = acks.pop_front() {
                        a.await?;
                    }
                }
                acks.push_back(
                    js.publish(format!("raw{run}.job"), shape.job(&i.to_string()))
                        .await?,
                );
            }
            for a in acks {
                a.await?;
            }
            Ok::<_, async_nats::Error>(())
        });
        self.raw_collect(&mut results, count).await?;
        let elapsed = t0.elapsed();
        let cost = Meter::read(nats).minus(&before);
        producer.await?.map_err(|e| anyhow::anyhow!(e))?;
        stop.cancel();
        for h in handles {
            h.await?;
        }
        Ok((count as f64 / elapsed.as_secs_f64(), cost))
    }

    pub(super) async fn raw_latency(
        &self,
        url: &str,
        n: usize,
        run: u64,
        shape: RawShape,
    ) -> anyhow::Result<(f64, f64)> {
        self.raw_setup(url, run).await?;
        let lat = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (stop, handles) = self.raw_workers(url, run, n, shape, lat.clone()).await?;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut results = self.raw_results(url, run).await?;
        let js = connect(url).await?;
        let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / self.rate as f64));
        for _ in 0..self.latency_jobs {
            tick.tick().await;
            js.publish(
                format!("raw{run}.job"),
                shape.job(&unix_micros().to_string()),
            )
            .await?
            .await?;
        }
        self.raw_collect(&mut results, self.latency_jobs).await?;
        stop.cancel();
        for h in handles {
            h.await?;
        }
        let mut samples = lat.lock().map(|v| v.clone()).unwrap_or_default();
        Ok(percentiles(&mut samples))
    }
}
