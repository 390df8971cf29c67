//! Embedding text: what turns a pattern's content, or a query, into the vector recall compares.
//!
//! The store takes vectors from anywhere ([`Store::learn`], [`Store::recall`]); [`Embed`] lets it
//! ask for them itself, so that a pattern and the queries that should find it are embedded by the
//! same model. The engine's `embed` (mean-pooled hidden states of the loaded GGUF) implements it
//! under the `inference` feature; any other embedder (a remote service, a test double) can.

use bizra_protocol::{Envelope, Result, VerifyOptions};

use crate::patterns::learnable_content;
use crate::recall::{RecallOptions, Recalled};
use crate::{Learned, Store};

/// Something that embeds text into a vector (of one fixed dimension per embedder).
pub trait Embed {
    /// The embedding of `text`.
    fn embed(&self, text: &str) -> Result<Vec<f32>>;
}

#[cfg(feature = "inference")]
impl Embed for bizra_inference::Engine {
    fn embed(&self, text: &str) -> Result<Vec<f32>> {
        bizra_inference::Engine::embed(self, text)
    }
}

impl<T: Embed + ?Sized> Embed for &T {
    fn embed(&self, text: &str) -> Result<Vec<f32>> {
        (**self).embed(text)
    }
}

impl<T: Embed + ?Sized> Embed for std::sync::Arc<T> {
    fn embed(&self, text: &str) -> Result<Vec<f32>> {
        (**self).embed(text)
    }
}

impl Store {
    /// [`Store::learn`], with the content's embedding from `embedder`: the envelope is verified
    /// first (nothing is embedded for an envelope that would be refused), then its learnable
    /// content is embedded and learned.
    pub fn learn_embedded(
        &self,
        envelope: &Envelope,
        embedder: &dyn Embed,
        tags: &[&str],
        opts: &VerifyOptions<'_>,
    ) -> Result<Learned> {
        envelope.verify(opts)?;
        let taught = learnable_content(envelope)?;
        let embedding = embedder.embed(&taught.0)?;
        self.learn_verified(envelope, taught, &embedding, tags)
    }

    /// [`Store::recall`] by meaning of `text`, embedded by `embedder` (the one that embedded the
    /// patterns, or recall compares vectors of different spaces).
    pub fn recall_text(
        &self,
        embedder: &dyn Embed,
        text: &str,
        opts: RecallOptions,
    ) -> Result<Vec<Recalled>> {
        let query = embedder.embed(text)?;
        self.recall(&query, opts)
    }
}
