"""Controlled synthetic languages: English written so that it shares no token with English.

The thesis test (docs/thesis.md) needs pairs whose sides share *structure* and nothing on the surface. Each
variant takes English text of other pages than the English side's and rewrites it by a fixed, seeded
substitution into Canadian Aboriginal Syllabics (a script nothing else in the corpora uses):

    char      every character (letters, digits, punctuation) -> one syllabic, one to one        code qca
    word      every word type -> a new random syllabic string of its length (no shared morphology), qcw
              every other character as in ``char``
    reversed  ``char`` of each sentence with its word order reversed (structure changed)        qcr
    shuffled  ``char`` of each sentence with its words shuffled (structure destroyed)          qcs
    domain    ``char`` of the English Bible against help pages (another domain)               qcb

Codes are from ISO 639's range reserved for local use (qaa-qtz). The test sets are the same transform of
the English test set, so BLEU against them is exact; the cipher's key is kept (``cipher.json``) and
deciphers ``char`` and ``word`` text back to the original.

    python -m data_prep.cipher --source corpora/libreoffice-en-fr --variant char --seed 1 --out corpora/cipher-char
"""
from __future__ import annotations

import hashlib
import json
import random
import re
import shutil
from pathlib import Path
from typing import Iterable

import click

from unmt.errors import UnmtError
from unmt.io import iter_lines, write_json, write_lines

ALPHABET = [chr(c) for c in range(0x1401, 0x166D)]  # the syllabics' 620 letters (Unicode category Lo)
VARIANTS = {"char": "qca", "word": "qcw", "reversed": "qcr", "shuffled": "qcs", "domain": "qcb"}
WORD_RE = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")  # a word, as unmt.segment counts words in English
PIECE_RE = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*|\s|.", re.UNICODE)


class Cipher:
    """A seeded substitution: ``chars`` maps each non-space character to one letter of ALPHABET; ``words``
    (word cipher only) maps each word type to a string over letters ``chars`` does not use, so a run of
    those letters is one word and the text deciphers without ambiguity. Spaces stay."""

    def __init__(self, chars: dict[str, str], words: dict[str, str] | None = None):
        self.chars, self.words = chars, words
        self._unchars = {v: k for k, v in chars.items()}
        self._unwords = {v: k for k, v in (words or {}).items()}
        self._word_letters = set("".join(self._unwords)) if words else set()

    @classmethod
    def build(cls, texts: Iterable[str], seed: int, words: bool = False) -> "Cipher":
        """A cipher covering every character (and, ``words``, every word type) of ``texts``."""
        texts = list(texts)
        inventory = sorted({c for line in texts for c in line if not c.isspace()})
        if len(inventory) > len(ALPHABET) // 2:
            raise UnmtError(f"the text has {len(inventory)} distinct characters, more than the cipher's "
                            f"{len(ALPHABET) // 2} -- cipher a text in one alphabet")
        rng = random.Random(seed)
        letters = rng.sample(ALPHABET, len(ALPHABET))
        chars = dict(zip(inventory, letters))
        if not words:
            return cls(chars)
        free = letters[len(inventory):]  # word strings use letters no character maps to
        types = sorted({w for line in texts for w in WORD_RE.findall(line)})
        mapping, used = {}, set()
        for w in types:
            for attempt in range(1000):
                length = len(w) + attempt // 100  # a longer string when short ones run out
                s = "".join(rng.choice(free) for _ in range(length))
                if s not in used:
                    break
            mapping[w] = s
            used.add(s)
        return cls(chars, mapping)

    def encode(self, line: str) -> str:
        if self.words is None:
            return "".join(c if c.isspace() else self.chars[c] for c in line)
        return "".join(self.words[p] if p in self.words else p if p.isspace() else self.chars[p]
                       for p in PIECE_RE.findall(line))

    def decode(self, line: str) -> str:
        if self.words is None:
            return "".join(self._unchars.get(c, c) for c in line)
        out, i = [], 0
        while i < len(line):
            j = i
            while j < len(line) and line[j] in self._word_letters:
                j += 1
            if j > i:
                out.append(self._unwords[line[i:j]])
                i = j
            else:
                out.append(self._unchars.get(line[i], line[i]))
                i += 1
        return "".join(out)

    def to_json(self) -> dict:
        return {"chars": self.chars, **({"words": self.words} if self.words else {})}

    @classmethod
    def from_json(cls, d: dict) -> "Cipher":
        return cls(d["chars"], d.get("words"))


def reorder(line: str, how: str, seed: int) -> str:
    """The sentence's words (space-separated) reversed, or shuffled by a generator seeded by the line."""
    tokens = line.split()
    if how == "reversed":
        return " ".join(reversed(tokens))
    rng = random.Random(int(hashlib.sha256(f"{seed}\0{line}".encode()).hexdigest()[:16], 16))
    rng.shuffle(tokens)
    return " ".join(tokens)


def transform(lines: list[str], variant: str, cipher: Cipher, seed: int) -> list[str]:
    if variant in ("reversed", "shuffled"):
        lines = [reorder(line, variant, seed) for line in lines]
    return [cipher.encode(line) for line in lines]


def _read(path: Path) -> list[str]:
    return list(iter_lines(path, "corpus"))


def _file(corpus: Path, name: str) -> Path:
    for p in (corpus / f"{name}.xz", corpus / name):
        if p.exists():
            return p
    raise UnmtError(f"{corpus / name}[.xz]: not found -- build the source corpus first (python -m data_prep.build_corpus)")


def other_pages_english(source: Path) -> tuple[list[str], list[str]]:
    """The English of the pages the source corpus gave its *other* language (its parallel file holds the true
    translations of both training sides): text the English side never saw. Returns (lines, origins)."""
    manifest = json.loads((source / "manifest.json").read_text(encoding="utf-8"))
    en, other = manifest["languages"][0], manifest["languages"][1]
    if en != "en":
        raise UnmtError(f"{source}: its first language is {en}, not en -- cipher an English-first corpus")
    pair = f"{en}-{other}"
    pages = {o.split("#")[0] for o in _read(_file(source, f"train.{other}.origin"))}
    lines, origins = _read(_file(source, f"parallel.{pair}.{en}")), _read(_file(source, f"parallel.{pair}.origin"))
    kept = [(l, o) for l, o in zip(lines, origins) if o.split("#")[0] in pages]
    return [l for l, _ in kept], [o for _, o in kept]


def build_cipher_corpus(source: Path, variant: str, out: Path, seed: int = 1, domain: Path | None = None,
                        test_fraction: float = 0.3) -> dict:
    """A corpus folder (the layout data_prep.build_corpus writes) pairing the source's English training side
    with ``variant`` of English from other pages (``domain``: of that corpus's English instead)."""
    if variant not in VARIANTS:
        raise UnmtError(f"--variant: '{variant}' is not one of {', '.join(VARIANTS)}")
    code = VARIANTS[variant]
    train_en, train_en_origin = _read(_file(source, "train.en")), _read(_file(source, "train.en.origin"))
    if variant == "domain":
        if domain is None:
            raise UnmtError("--variant domain: give --domain CORPUS, the corpus whose English is ciphered")
        other, other_origin = _read(_file(domain, "train.en")), _read(_file(domain, "train.en.origin"))
    else:
        other, other_origin = other_pages_english(source)
    dev, test = _read(_file(source, "dev.en")), _read(_file(source, "test.en"))
    cipher = Cipher.build(train_en + other + dev + test, seed, words=variant == "word")
    final, out = out, out.with_name(out.name + ".partial")  # built aside, renamed when complete
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    write_lines(out / "train.en.xz", train_en)
    write_lines(out / "train.en.origin.xz", train_en_origin)
    write_lines(out / f"train.{code}.xz", transform(other, variant, cipher, seed))
    write_lines(out / f"train.{code}.origin.xz", other_origin)
    for split, lines in (("dev", dev), ("test", test)):
        write_lines(out / f"{split}.en.xz", lines)
        write_lines(out / f"{split}.{code}.xz", transform(lines, variant, cipher, seed))
    # the true translations of both training sides, which only the supervised ceiling reads
    write_lines(out / f"parallel.en-{code}.en.xz", train_en + other)
    write_lines(out / f"parallel.en-{code}.{code}.xz", transform(train_en + other, variant, cipher, seed))
    # a dictionary: each English word of both sides and its cipher, split by source word like build_corpus's
    en_words = {w for line in train_en for w in WORD_RE.findall(line)}
    other_words = {w for line in other for w in WORD_RE.findall(line)}
    pairs = sorted((w, (cipher.words or {}).get(w) or cipher.encode(w)) for w in en_words & other_words)
    train_d, test_d = [], []
    for s, t in pairs:
        bucket = int(hashlib.sha1(s.encode()).hexdigest()[:8], 16) / 16**8
        (test_d if bucket < test_fraction else train_d).append(f"{s} {t}")
    write_lines(out / f"dict.en-{code}.train.txt", train_d)
    write_lines(out / f"dict.en-{code}.test.txt", test_d)
    write_json(out / "cipher.json", cipher.to_json())
    manifest = {"corpus": final.name, "languages": ["en", code], "pairs": [f"en-{code}"],
                "built_with": f"python -m data_prep.cipher --source {source} --variant {variant} --seed {seed}"
                              + (f" --domain {domain}" if domain else "") + f" --out {final}",
                "variant": variant, "seed": seed, "source": str(source), **({"domain": str(domain)} if domain else {}),
                "split": "the English side: the source's English training pages; the cipher side: English of "
                         + ("the domain corpus" if domain else "the pages the source gave its other language"),
                "lines": {"train.en": len(train_en), f"train.{code}": len(other), "dev": len(dev), "test": len(test),
                          "dictionary": {"train": len(train_d), "test": len(test_d)}}}
    write_json(out / "manifest.json", manifest)
    shutil.rmtree(final, ignore_errors=True)
    out.rename(final)
    return manifest


@click.command()
@click.option("--source", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="An English-first corpus with a parallel file (e.g. corpora/libreoffice-en-fr).")
@click.option("--variant", type=click.Choice(list(VARIANTS)), required=True)
@click.option("--seed", type=click.IntRange(min=0), default=1, show_default=True)
@click.option("--domain", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="variant domain: the corpus whose English is ciphered (e.g. corpora/bible-en-es).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
def main(source, variant, seed, domain, out):
    m = build_cipher_corpus(source, variant, out, seed, domain)
    click.echo(f"{out}: en + {m['languages'][1]} ({variant}), {m['lines']}")


if __name__ == "__main__":
    main()
