//! The asynctools task pipeline (being built: see issue 3).
