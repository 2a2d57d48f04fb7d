//! A real tonic gRPC service with the four kinds of call, and a tonic client for it, for
//! tests of gRPC through Ballast. The service `test.Echo` is written as tonic's code
//! generator would write it (no `protoc` needed): messages derived with prost, each method
//! served by `tonic::server::Grpc` with the prost codec.
//!
//! - `Unary`: the note back, `n` + 1.
//! - `Count` (server streaming): notes `0..n`, each with the text.
//! - `Sum` (client streaming): one note whose `n` is the sum of all received.
//! - `Chat` (bidirectional): every note back as it arrives, `n` doubled.
//!
//! A note with text `fail` makes `Unary` answer `FAILED_PRECONDITION` with custom trailers.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use http::uri::PathAndQuery;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use tonic::server::{
    ClientStreamingService, Grpc, ServerStreamingService, StreamingService, UnaryService,
};
use tonic::{Request, Response, Status, Streaming};
use tonic_prost::ProstCodec;

/// The one message of `test.Echo`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Note {
    #[prost(string, tag = "1")]
    pub text: String,
    #[prost(uint32, tag = "2")]
    pub n: u32,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
type NoteStream = Pin<Box<dyn Stream<Item = Result<Note, Status>> + Send>>;

struct UnaryEcho;
struct CountNotes;
struct SumNotes;
struct ChatNotes;

impl UnaryService<Note> for UnaryEcho {
    type Response = Note;
    type Future = BoxFuture<Result<Response<Note>, Status>>;

    fn call(&mut self, request: Request<Note>) -> Self::Future {
        Box::pin(async move {
            let note = request.into_inner();
            if note.text == "fail" {
                let mut status = Status::failed_precondition("asked to fail");
                status
                    .metadata_mut()
                    .insert("x-detail", "custom trailer".parse().unwrap());
                return Err(status);
            }
            Ok(Response::new(Note {
                text: note.text,
                n: note.n + 1,
            }))
        })
    }
}

impl ServerStreamingService<Note> for CountNotes {
    type Response = Note;
    type ResponseStream = NoteStream;
    type Future = BoxFuture<Result<Response<NoteStream>, Status>>;

    fn call(&mut self, request: Request<Note>) -> Self::Future {
        Box::pin(async move {
            let note = request.into_inner();
            let stream = futures_util::stream::iter((0..note.n).map(move |n| {
                Ok(Note {
                    text: note.text.clone(),
                    n,
                })
            }));
            Ok(Response::new(Box::pin(stream) as NoteStream))
        })
    }
}

impl ClientStreamingService<Note> for SumNotes {
    type Response = Note;
    type Future = BoxFuture<Result<Response<Note>, Status>>;

    fn call(&mut self, request: Request<Streaming<Note>>) -> Self::Future {
        Box::pin(async move {
            let mut notes = request.into_inner();
            let mut sum = Note::default();
            while let Some(note) = notes.next().await {
                let note = note?;
                sum.n += note.n;
                sum.text.push_str(&note.text);
            }
            Ok(Response::new(sum))
        })
    }
}

impl StreamingService<Note> for ChatNotes {
    type Response = Note;
    type ResponseStream = NoteStream;
    type Future = BoxFuture<Result<Response<NoteStream>, Status>>;

    fn call(&mut self, request: Request<Streaming<Note>>) -> Self::Future {
        Box::pin(async move {
            let notes = request.into_inner().map(|note| {
                note.map(|note| Note {
                    text: note.text,
                    n: note.n * 2,
                })
            });
            Ok(Response::new(Box::pin(notes) as NoteStream))
        })
    }
}

/// The `test.Echo` service as an HTTP service.
#[derive(Clone, Copy, Default)]
struct EchoService;

impl<B> tower_service::Service<http::Request<B>> for EchoService
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        Box::pin(async move {
            let mut grpc = Grpc::new(ProstCodec::<Note, Note>::default());
            Ok(match request.uri().path() {
                "/test.Echo/Unary" => grpc.unary(UnaryEcho, request).await,
                "/test.Echo/Count" => grpc.server_streaming(CountNotes, request).await,
                "/test.Echo/Sum" => grpc.client_streaming(SumNotes, request).await,
                "/test.Echo/Chat" => grpc.streaming(ChatNotes, request).await,
                _ => Status::unimplemented("no such method").into_http(),
            })
        })
    }
}

/// `test.Echo` served over HTTP/2 cleartext on 127.0.0.1:0. [`GrpcEchoServer::kill`] ends
/// every connection at once, as a crashed process would.
pub struct GrpcEchoServer {
    pub addr: SocketAddr,
    tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl GrpcEchoServer {
    pub async fn spawn() -> GrpcEchoServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let tasks = Arc::new(Mutex::new(Vec::new()));
        let held = Arc::clone(&tasks);
        let accept = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let connection = tokio::spawn(async move {
                    let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(
                            TokioIo::new(stream),
                            TowerToHyperService::new(EchoService),
                        )
                        .await;
                });
                held.lock().unwrap().push(connection);
            }
        });
        tasks.lock().unwrap().push(accept);
        GrpcEchoServer { addr, tasks }
    }

    /// Stops accepting and drops every connection, mid-stream or not.
    pub fn kill(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

impl Drop for GrpcEchoServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A tonic client of `test.Echo` over one HTTP/2 connection (h2c, or TLS with `h2`).
pub struct GrpcEchoClient {
    grpc: tonic::client::Grpc<H2Channel>,
}

impl GrpcEchoClient {
    /// A client on `io`, speaking to `origin` (`http://host:port` or `https://name`).
    pub async fn over<I>(io: I, origin: &str) -> GrpcEchoClient
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io))
                .await
                .unwrap();
        tokio::spawn(connection);
        GrpcEchoClient {
            grpc: tonic::client::Grpc::with_origin(H2Channel(sender), origin.parse().unwrap()),
        }
    }

    /// An h2c client of `addr`.
    pub async fn connect(addr: SocketAddr) -> GrpcEchoClient {
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        Self::over(tcp, &format!("http://{addr}")).await
    }

    async fn ready(&mut self) -> Result<(), Status> {
        self.grpc
            .ready()
            .await
            .map_err(|e| Status::unavailable(e.to_string()))
    }

    pub async fn unary(&mut self, request: Request<Note>) -> Result<Response<Note>, Status> {
        self.ready().await?;
        let path = PathAndQuery::from_static("/test.Echo/Unary");
        self.grpc.unary(request, path, ProstCodec::default()).await
    }

    pub async fn count(
        &mut self,
        request: Request<Note>,
    ) -> Result<Response<Streaming<Note>>, Status> {
        self.ready().await?;
        let path = PathAndQuery::from_static("/test.Echo/Count");
        self.grpc
            .server_streaming(request, path, ProstCodec::default())
            .await
    }

    pub async fn sum<S>(&mut self, notes: S) -> Result<Response<Note>, Status>
    where
        S: Stream<Item = Note> + Send + 'static,
    {
        self.ready().await?;
        let path = PathAndQuery::from_static("/test.Echo/Sum");
        self.grpc
            .client_streaming(Request::new(notes), path, ProstCodec::default())
            .await
    }

    pub async fn chat<S>(&mut self, notes: S) -> Result<Response<Streaming<Note>>, Status>
    where
        S: Stream<Item = Note> + Send + 'static,
    {
        self.ready().await?;
        let path = PathAndQuery::from_static("/test.Echo/Chat");
        self.grpc
            .streaming(Request::new(notes), path, ProstCodec::default())
            .await
    }
}

/// One HTTP/2 connection as the service tonic's client sends requests to.
#[derive(Clone)]
struct H2Channel(hyper::client::conn::http2::SendRequest<tonic::body::Body>);

impl tower_service::Service<http::Request<tonic::body::Body>> for H2Channel {
    type Response = http::Response<hyper::body::Incoming>;
    type Error = hyper::Error;
    type Future = BoxFuture<Result<Self::Response, hyper::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), hyper::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let sending = self.0.send_request(request);
        Box::pin(sending)
    }
}
