"""Curating training data: generated examples and their filters, LLM synthesis, label-error
finding. Import the submodules directly (``intently.curation.label_issues``, ...)."""
