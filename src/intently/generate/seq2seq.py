"""``paraphrase`` and ``backtranslate``: any local Hugging Face seq2seq model folder.

A paraphrase model (T5/BART/Pegasus fine-tuned to paraphrase) rewrites each example; back
translation sends it through two translation models (e.g. Marian en→de then de→en). Models
load from folders only (safetensors; nothing is downloaded or unpickled), once per process.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from intently.data.example import Example, Source
from intently.errors import GeneratorModelError
from intently.generate.base import GenerationContext, GeneratorParams, GeneratorType, derived


class _Decoding(GeneratorParams):
    copies: int = Field(default=3, ge=1, le=20, description="Outputs per example.")
    top_p: float = Field(default=0.9, gt=0, le=1, description="Nucleus sampling.")
    temperature: float = Field(default=1.0, gt=0)
    max_new_tokens: int = Field(default=48, ge=1)
    batch_size: int = Field(default=16, ge=1)


class ParaphraseParams(_Decoding):
    model: str = Field(min_length=1, description="Folder of a seq2seq paraphrase model.")
    prefix: str = Field(default="paraphrase: ", description="Prepended to each input (T5).")


class BacktranslateParams(_Decoding):
    copies: int = Field(default=1, ge=1, le=20)
    forward: str = Field(min_length=1, description="Folder: source language → pivot.")
    back: str = Field(min_length=1, description="Folder: pivot → source language.")


@dataclass(frozen=True)
class Seq2Seq:
    """A loaded tokenizer and model with seeded sampling or greedy decoding."""

    folder: Path
    tokenizer: Any
    model: Any

    def rewrite(
        self, texts: Sequence[str], params: _Decoding, *, seed: int, copies: int
    ) -> list[list[str]]:
        """``copies`` outputs per text; sampled (seeded) when ``copies`` > 1, else greedy."""
        import torch

        torch.manual_seed(seed)
        out: list[list[str]] = []
        for start in range(0, len(texts), params.batch_size):
            batch = list(texts[start : start + params.batch_size])
            encoded = self.tokenizer(batch, return_tensors="pt", padding=True, truncation=True)
            with torch.no_grad():
                sampling = (
                    {"do_sample": True, "top_p": params.top_p, "temperature": params.temperature}
                    if copies > 1
                    else {"do_sample": False}
                )
                generated = self.model.generate(
                    **encoded,
                    **sampling,
                    num_return_sequences=copies,
                    max_new_tokens=params.max_new_tokens,
                )
            decoded = self.tokenizer.batch_decode(generated, skip_special_tokens=True)
            out += [
                [d.strip() for d in decoded[i * copies : (i + 1) * copies]]
                for i in range(len(batch))
            ]
        return out


@functools.cache
def load_seq2seq(folder: Path) -> Seq2Seq:
    """The model in ``folder`` (cached); GeneratorModelError when it or torch is missing."""
    if not folder.is_dir():
        raise GeneratorModelError(
            f"no model folder at {folder}.",
            hint="point 'model' (or 'forward'/'back') at a local Hugging Face seq2seq folder "
            "(config.json, model.safetensors, tokenizer files), relative to the project file.",
        )
    try:
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer
    except ImportError as exc:
        raise GeneratorModelError(
            f"paraphrase/backtranslate need torch and transformers: {exc}.",
            hint="install them with `pip install 'intently[neural]'`.",
        ) from exc
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        model = AutoModelForSeq2SeqLM.from_pretrained(
            folder, local_files_only=True, use_safetensors=True
        )
    except (OSError, ValueError, KeyError) as exc:
        raise GeneratorModelError(
            f"{folder} is not a loadable seq2seq model folder: {exc}",
            hint="save one with `model.save_pretrained(folder)` and "
            "`tokenizer.save_pretrained(folder)` (safetensors weights).",
        ) from exc
    model.eval()
    return Seq2Seq(folder, tokenizer, model)


@dataclass(frozen=True)
class Paraphraser:
    params: ParaphraseParams
    folder: Path
    source: Source = Source.PARAPHRASE

    def generate(self, examples: Sequence[Example], rng: np.random.Generator) -> list[Example]:
        model = load_seq2seq(self.folder)
        texts = [self.params.prefix + e.text for e in examples]
        outputs = model.rewrite(
            texts, self.params, seed=int(rng.integers(2**31)), copies=self.params.copies
        )
        return _new_examples(examples, outputs, self.source, "paraphrase")


@dataclass(frozen=True)
class BackTranslator:
    params: BacktranslateParams
    forward: Path
    back: Path
    source: Source = Source.PARAPHRASE

    def generate(self, examples: Sequence[Example], rng: np.random.Generator) -> list[Example]:
        there = load_seq2seq(self.forward).rewrite(
            [e.text for e in examples],
            self.params,
            seed=int(rng.integers(2**31)),
            copies=self.params.copies,
        )
        # An empty pivot has nothing to translate back (and no tokens to encode).
        pivots = [(i, pivot) for i, found in enumerate(there) for pivot in found if pivot]
        back = load_seq2seq(self.back).rewrite(
            [pivot for _, pivot in pivots], self.params, seed=0, copies=1
        )
        per_example: list[list[str]] = [[] for _ in examples]
        for (i, _), texts in zip(pivots, back, strict=True):
            per_example[i] += texts
        return _new_examples(examples, per_example, self.source, "backtranslate")


def _new_examples(
    examples: Sequence[Example], outputs: list[list[str]], source: Source, generator: str
) -> list[Example]:
    """Non-empty outputs that differ from their original, once each."""
    out: list[Example] = []
    for example, texts in zip(examples, outputs, strict=True):
        seen = {example.text.lower()}
        for text in texts:
            if text and text.lower() not in seen:
                seen.add(text.lower())
                out.append(derived(example, text, source, generator))
    return out


def _paraphraser(params: Any, context: GenerationContext) -> Paraphraser:
    return Paraphraser(params, context.project.resolve(params.model))


def _backtranslator(params: Any, context: GenerationContext) -> BackTranslator:
    resolve = context.project.resolve
    return BackTranslator(params, resolve(params.forward), resolve(params.back))


GENERATORS = {
    "paraphrase": GeneratorType("paraphrase", ParaphraseParams, _paraphraser),
    "backtranslate": GeneratorType("backtranslate", BacktranslateParams, _backtranslator),
}
