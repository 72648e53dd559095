"""Where the pipeline keeps what it made: the store (raw files, staged tables, the manifest), the publications, and
the locks and atomic writes both rely on. No source-specific knowledge lives here."""
