//! The calls: key-value reads and writes, compare-and-swap, leases and watches.

use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;

use super::wire::{self, b64, key_range};
use super::{encode, status_error, watch, Etcd, EtcdError, KeyValue, PutIf, Watch};

impl Etcd {
    /// The key's value, and the store's revision when it was read.
    pub async fn get(&self, key: &[u8]) -> Result<(Option<KeyValue>, i64), EtcdError> {
        let (key, range_end) = key_range(key, false);
        let answer: wire::RangeResponse = self
            .call("/v3/kv/range", &wire::RangeRequest { key, range_end })
            .await?;
        let kv = answer.kvs.into_iter().next().map(KeyValue::from);
        Ok((kv, answer.header.revision))
    }

    /// Every key starting with `prefix`, in key order, and the store's revision.
    pub async fn get_prefix(&self, prefix: &[u8]) -> Result<(Vec<KeyValue>, i64), EtcdError> {
        let (key, range_end) = key_range(prefix, true);
        let answer: wire::RangeResponse = self
            .call("/v3/kv/range", &wire::RangeRequest { key, range_end })
            .await?;
        let kvs = answer.kvs.into_iter().map(KeyValue::from).collect();
        Ok((kvs, answer.header.revision))
    }

    /// Writes the key (attached to `lease` if given); the revision of the write.
    pub async fn put(
        &self,
        key: &[u8],
        value: &[u8],
        lease: Option<i64>,
    ) -> Result<i64, EtcdError> {
        let request = put_request(key, value, lease);
        let answer: wire::HeaderOnly = self.call("/v3/kv/put", &request).await?;
        Ok(answer.header.revision)
    }

    /// Writes only if the key's mod_revision is `expected` (0: only if the key does not
    /// exist).
    pub async fn put_if(
        &self,
        key: &[u8],
        value: &[u8],
        expected: i64,
    ) -> Result<PutIf, EtcdError> {
        self.put_if_leased(key, value, expected, None).await
    }

    /// [`Etcd::put_if`], the key attached to `lease` when given.
    pub async fn put_if_leased(
        &self,
        key: &[u8],
        value: &[u8],
        expected: i64,
        lease: Option<i64>,
    ) -> Result<PutIf, EtcdError> {
        // A key that does not exist has create_revision 0; one that exists never does.
        let compare = if expected == 0 {
            wire::Compare {
                target: "CREATE",
                key: b64(key),
                result: "EQUAL",
                mod_revision: None,
                create_revision: Some("0".into()),
            }
        } else {
            wire::Compare {
                target: "MOD",
                key: b64(key),
                result: "EQUAL",
                mod_revision: Some(expected.to_string()),
                create_revision: None,
            }
        };
        let request = wire::TxnRequest {
            compare: vec![compare],
            success: vec![wire::RequestOp::Put(put_request(key, value, lease))],
            failure: vec![wire::RequestOp::Range(wire::RangeRequest {
                key: b64(key),
                range_end: None,
            })],
        };
        let answer: wire::TxnResponse = self.call("/v3/kv/txn", &request).await?;
        if answer.succeeded {
            return Ok(PutIf::Written(answer.header.revision));
        }
        let now = answer
            .responses
            .into_iter()
            .filter_map(|op| op.response_range)
            .flat_map(|range| range.kvs)
            .next()
            .map(KeyValue::from);
        Ok(PutIf::Conflict(now))
    }

    /// Deletes the key (nothing if it does not exist).
    pub async fn delete(&self, key: &[u8]) -> Result<(), EtcdError> {
        let request = wire::DeleteRangeRequest { key: b64(key) };
        let _: wire::HeaderOnly = self.call("/v3/kv/deleterange", &request).await?;
        Ok(())
    }

    /// A new lease of `ttl` (whole seconds, at least one): its ID.
    pub async fn grant(&self, ttl: Duration) -> Result<i64, EtcdError> {
        let seconds = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
        let request = wire::LeaseGrantRequest {
            ttl: seconds.max(1).to_string(),
        };
        let answer: wire::LeaseGrantResponse = self.call("/v3/lease/grant", &request).await?;
        if !answer.error.is_empty() {
            return Err(EtcdError::Status {
                status: 200,
                code: 0,
                message: answer.error,
            });
        }
        if answer.id == 0 {
            return Err(EtcdError::Malformed("lease grant without an ID".into()));
        }
        Ok(answer.id)
    }

    /// Renews the lease: its TTL from now, or `None` if it has expired (or never was).
    pub async fn keep_alive(&self, lease: i64) -> Result<Option<Duration>, EtcdError> {
        let request = wire::LeaseIdRequest {
            id: lease.to_string(),
        };
        // A streaming call in gRPC: its answer is one stream line for our one request.
        let line: wire::StreamLine<wire::LeaseKeepAliveResponse> =
            self.call("/v3/lease/keepalive", &request).await?;
        if let Some(error) = line.error {
            return Err(EtcdError::Status {
                status: u16::try_from(error.http_code).unwrap_or(0),
                code: error.grpc_code(),
                message: error.message,
            });
        }
        let result = line
            .result
            .ok_or_else(|| EtcdError::Malformed("keepalive answer without a result".into()))?;
        Ok(u64::try_from(result.ttl)
            .ok()
            .filter(|&ttl| ttl > 0)
            .map(Duration::from_secs))
    }

    /// Ends the lease now, deleting its keys. A lease that is already gone is no error:
    /// what the caller wanted holds.
    pub async fn revoke(&self, lease: i64) -> Result<(), EtcdError> {
        let request = wire::LeaseIdRequest {
            id: lease.to_string(),
        };
        match self
            .call::<_, wire::HeaderOnly>("/v3/lease/revoke", &request)
            .await
        {
            Ok(_) => Ok(()),
            // gRPC NotFound: "requested lease not found".
            Err(EtcdError::Status { code: 5, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Watches `key` (every key under it when `prefix`) from `start_revision`
    /// (inclusive; 0 for "from now"). Returns once etcd has confirmed the watch.
    pub async fn watch(
        &self,
        key: &[u8],
        prefix: bool,
        start_revision: i64,
    ) -> Result<Watch, EtcdError> {
        let (key, range_end) = key_range(key, prefix);
        let request = wire::WatchRequest {
            create_request: wire::WatchCreateRequest {
                key,
                range_end,
                start_revision: start_revision.to_string(),
                progress_notify: true,
            },
        };
        let body = Bytes::from(encode(&request)?);
        let mut retried = false;
        loop {
            let token = self.token().await?;
            match self.open_watch(body.clone(), token.as_deref()).await {
                Err(e) if !retried && self.is_auth_error(&e) => {
                    retried = true;
                    self.forget_token();
                }
                other => return other,
            }
        }
    }

    async fn open_watch(&self, body: Bytes, token: Option<&str>) -> Result<Watch, EtcdError> {
        let transport = &self.inner.transport;
        let exchange = transport.stream("/v3/watch", body, token).await?;
        let status = exchange.response.status();
        if status != StatusCode::OK {
            let answer = tokio::time::timeout(transport.timeout, async {
                http_body_util::BodyExt::collect(http_body_util::Limited::new(
                    exchange.response.into_body(),
                    watch::MAX_LINE,
                ))
                .await
                .map(|body| body.to_bytes())
                .unwrap_or_default()
            })
            .await
            .unwrap_or_default();
            return Err(status_error(status, &answer));
        }
        let mut watch = Watch::new(exchange.response.into_body(), exchange.conn);
        tokio::time::timeout(transport.timeout, watch.created())
            .await
            .map_err(|_| EtcdError::Unreachable("the watch was not confirmed in time".into()))??;
        Ok(watch)
    }
}

fn put_request(key: &[u8], value: &[u8], lease: Option<i64>) -> wire::PutRequest {
    wire::PutRequest {
        key: b64(key),
        value: b64(value),
        lease: lease.map(|id| id.to_string()),
    }
}
