//! A running server: bound first (answering 503 while models load), ready once they are in.

use axum::serve::ListenerExt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::error::ModelError;
use crate::http::{AppState, error::Style, router};
use crate::registry::{LoadOptions, ModelRegistry, ModelSpec};

/// An error starting or running the server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {cause}")]
    Bind {
        /// The address.
        addr: String,
        /// The cause (in the message, so not also a `source()`).
        cause: std::io::Error,
    },
    /// A model could not be loaded.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The HTTP server stopped with an error.
    #[error("server failed: {0}")]
    Serve(String),
}

/// A server accepting connections on a background task.
#[derive(Debug)]
pub struct RunningServer {
    addr: SocketAddr,
    state: Arc<AppState>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl RunningServer {
    /// Binds `addr` (`host:port`, port 0 for any) and starts answering; not ready until
    /// models are installed. `concurrency` bounds requests computed at once.
    pub async fn bind(addr: &str, concurrency: usize) -> Result<Self, ServeError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind {
                addr: addr.to_string(),
                cause: source,
            })?;
        let local = listener.local_addr().map_err(|source| ServeError::Bind {
            addr: addr.to_string(),
            cause: source,
        })?;
        let state = Arc::new(AppState::new(concurrency));
        let (tx, rx) = oneshot::channel::<()>();
        let app = router(state.clone());
        // No Nagle: streamed tokens leave as they are made, not ~40 ms later in a burst
        // (which would make every time to first token on a kept-alive connection wrong).
        let listener = listener.tap_io(|stream| {
            if let Err(e) = stream.set_nodelay(true) {
                tracing::warn!("cannot set TCP_NODELAY: {e}");
            }
        });
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await
        });
        Ok(Self {
            addr: local,
            state,
            stop: Some(tx),
            task,
        })
    }

    /// Binds, loads the models and returns a ready server (what tests use).
    pub async fn start(
        addr: &str,
        concurrency: usize,
        specs: &[ModelSpec],
        options: &LoadOptions,
    ) -> Result<Self, ServeError> {
        let server = Self::bind(addr, concurrency).await?;
        server.load(specs, options).await?;
        Ok(server)
    }

    /// Batches encoder requests (call before loading); an error if the batching thread
    /// cannot start.
    pub fn batch(&self, settings: crate::batch::BatchSettings) -> Result<(), ServeError> {
        self.state
            .batch(settings)
            .map(|_| ())
            .map_err(|e| ServeError::Serve(format!("cannot start the batching thread: {e}")))
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Loads models on a blocking thread and makes the server ready.
    pub async fn load(
        &self,
        specs: &[ModelSpec],
        options: &LoadOptions,
    ) -> Result<Arc<ModelRegistry>, ServeError> {
        let (specs, options) = (specs.to_vec(), options.clone());
        let registry = tokio::task::spawn_blocking(move || {
            let registry = ModelRegistry::load(&specs, &options);
            crate::heap::release_load_buffers();
            crate::heap::keep_working_memory();
            registry
        })
        .await
        .map_err(|e| ServeError::Serve(format!("model loading task failed: {e}")))??;
        self.install(registry)
    }

    /// Installs already loaded models and makes the server ready.
    pub fn install(&self, registry: ModelRegistry) -> Result<Arc<ModelRegistry>, ServeError> {
        if !self.state.install(registry) {
            return Err(ServeError::Serve("models were already installed".into()));
        }
        self.state
            .registry(Style::OpenAi)
            .map_err(|e| ServeError::Serve(e.message))
    }

    /// Stops accepting, lets requests in flight finish for up to `grace`, then returns.
    pub async fn stop(mut self, grace: Duration) -> Result<(), ServeError> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        match tokio::time::timeout(grace, &mut self.task).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(e))) => Err(ServeError::Serve(e.to_string())),
            Ok(Err(e)) => Err(ServeError::Serve(e.to_string())),
            Err(_) => {
                self.task.abort();
                Ok(())
            }
        }
    }
}
