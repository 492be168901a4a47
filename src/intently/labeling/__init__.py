"""Labeling unlabeled texts with an LLM, checked against the task's trained model."""
