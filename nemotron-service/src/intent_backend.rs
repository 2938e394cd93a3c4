//! The configured intent classification backend: the embedded engine, or the model backend
//! (with the embedded engine as floor and fallback), chosen by the node configuration.

use openshell_policy::wire::{ActionRequest, IntentClassification};

use crate::facts::ActionFacts;
use crate::intent::EmbeddedEngine;
use crate::model::ModelEngine;

/// The configured classification backend.
pub enum IntentBackend {
    /// Deterministic rules and detectors, in-process.
    Embedded(EmbeddedEngine),
    /// An OpenAI-compatible model server, cached, falling back to the embedded engine.
    Model(Box<ModelEngine>),
}

impl IntentBackend {
    /// The answer if it is available without blocking: always for the embedded engine, on a
    /// cache hit for the model.
    pub fn quick(&self, request: &ActionRequest) -> Option<IntentClassification> {
        match self {
            IntentBackend::Embedded(e) => Some(e.classify(request)),
            IntentBackend::Model(m) => m.cached(request),
        }
    }

    /// The answer, asking the model if one is configured (blocking).
    pub fn classify(&self, request: &ActionRequest) -> IntentClassification {
        match self {
            IntentBackend::Embedded(e) => e.classify(request),
            IntentBackend::Model(m) => m.classify(request),
        }
    }

    /// [`IntentBackend::quick`] for a request whose facts are already derived (a decision
    /// derives them once for both the classification and the Cedar context).
    pub fn quick_with_facts(
        &self,
        request: &ActionRequest,
        facts: &ActionFacts,
    ) -> Option<IntentClassification> {
        match self {
            IntentBackend::Embedded(e) => Some(e.classify_with_facts(request, facts)),
            IntentBackend::Model(m) => m.cached(request),
        }
    }

    /// [`IntentBackend::classify`] for a request whose facts are already derived.
    pub fn classify_with_facts(
        &self,
        request: &ActionRequest,
        facts: &ActionFacts,
    ) -> IntentClassification {
        match self {
            IntentBackend::Embedded(e) => e.classify_with_facts(request, facts),
            IntentBackend::Model(m) => m.classify(request),
        }
    }

    /// The embedded engine (also the model backend's floor and fallback).
    pub fn embedded(&self) -> &EmbeddedEngine {
        match self {
            IntentBackend::Embedded(e) => e,
            IntentBackend::Model(m) => m.embedded(),
        }
    }
}
