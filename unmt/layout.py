"""``RunLayout``: the one place that knows where a run's files live.

Stages talk to each other only through files, and every such file is named here, by what it is
(``layout.lexicon("en", "fr")``), never by a path spelled in the stage that writes or reads it. A stage
instance owns one folder (``prepare``, ``train``, ``mine2``, ``train-d-full``, ...); the stage that
reads another stage's file declares it as an input (``unmt/stages/``), which is how the runner knows
what depends on what.

    <run>/manifest.json            one record per finished stage (unmt/manifest.py)
    <run>/.lock                    held while a run uses the folder
    prepare/spm.model              joint SentencePiece model
    prepare/text/{split}.{lang}    the raw lines every stage reads (train/dev/test)
    prepare/bin/dict.txt           the one fairseq dictionary; bin/{lang}/train.*, bin/{valid,test}.*
    pretrain|train*/checkpoint_{last,best}.pt, train.log (fairseq JSON log), command.txt
    align/words.{lang}.txt, vectors.{lang}.npy, mapping.{s}-{t}.npy, lexicon.{s}-{t}.txt
    mine*/mined.{s}-{t}.tsv        score<TAB>source<TAB>target, best first
    evaluate*/test.{s}-{t}.hyp.{t}, test.{s}-{t}.wbw.{t}
    <stage>/results.json, results.md, <figure>.png
"""
from __future__ import annotations

import functools
from pathlib import Path

SPLITS = ("train", "dev", "test")

# fairseq's name for the checkpoint it resumes from (--save-dir/checkpoint_last.pt): a stage that keeps
# one after a failure can resume
LAST_CHECKPOINT = "checkpoint_last.pt"


# files of a fairseq training folder (a stage's own, or a compression LM's inside the lms stage)
def checkpoint_in(folder: Path, which: str = "last") -> Path:
    return Path(folder) / f"checkpoint_{which}.pt"


def checkpoints_in(folder: Path) -> list[Path]:
    """Every checkpoint fairseq left in ``folder`` (last, best, and any interval one)."""
    return sorted(Path(folder).glob("checkpoint_*.pt"))


def train_log_in(folder: Path) -> Path:
    """fairseq's JSON log of the training in ``folder`` (the progress lines on the console are read from it)."""
    return Path(folder) / "train.log"


def command_in(folder: Path) -> Path:
    """The exact fairseq command line that trained ``folder``."""
    return Path(folder) / "command.txt"


# a folder of text that fairseq-preprocess binarizes (compression LMs, pseudo-parallel pairs)
def lm_train_text(tok_dir: Path) -> Path:
    return Path(tok_dir) / "train.txt"


def lm_heldout_text(tok_dir: Path, lang: str) -> Path:
    return Path(tok_dir) / f"heldout.{lang}.txt"


def tok_dir(folder: Path) -> Path:
    """Where a stage keeps the SentencePiece text it binarizes into ``folder``."""
    return Path(folder) / "tok"


def fairseq_binary(folder: Path, src: str, tgt: str, lang: str, split: str = "train") -> Path:
    """fairseq-preprocess's name for one side of a binarized pair (its own naming, kept as it writes it)."""
    return Path(folder) / f"{split}.{src}-{tgt}.{lang}.bin"


def pair_text(tok_dir: Path, kind: str, src: str, tgt: str, lang: str | None = None) -> Path:
    """Pieces of pseudo-parallel pairs (kind: mined, warm) as fairseq-preprocess reads them (a prefix without ``lang``)."""
    return Path(tok_dir) / (f"{kind}.{src}-{tgt}.{lang}" if lang else f"{kind}.{src}-{tgt}")


def round_name(stage: str, rnd: int) -> str:
    """Mining round r's stage folder: mine, train (r = 1), mine2, train2, ..."""
    return stage if rnd == 1 else f"{stage}{rnd}"


class RunLayout:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    def dir(self, stage: str) -> Path:
        return self.root / stage

    def in_run(self, path: Path) -> str:
        """``path`` as results record it: relative to the run folder if inside it, so the same run in another
        folder writes the same results (and a moved run still finds it)."""
        try:
            return str(Path(path).relative_to(self.root))
        except ValueError:
            return str(path)

    def owner(self, path: Path) -> str | None:
        """The stage folder a path in this run lives in (None outside the run or for run-level files)."""
        try:
            rel = Path(path).relative_to(self.root)
        except ValueError:
            return None
        return rel.parts[0] if len(rel.parts) > 1 else None

    # -- run-level --------------------------------------------------------------------------
    @property
    def manifest(self) -> Path:
        return self.root / "manifest.json"

    @property
    def lock(self) -> Path:
        return self.root / ".lock"

    def started(self, stage: str) -> Path:
        """What a stage started with (config, input digests): a killed fairseq stage resumes only if equal."""
        return self.dir(stage) / ".started.json"

    # -- prepare ----------------------------------------------------------------------------
    @property
    def spm_model(self) -> Path:
        return self.root / "prepare" / "spm.model"

    @property
    def spm_prefix(self) -> Path:
        return self.root / "prepare" / "spm"

    @property
    def bin_dir(self) -> Path:
        return self.root / "prepare" / "bin"

    @property
    def dictionary(self) -> Path:
        return self.bin_dir / "dict.txt"

    def mono_bin(self, lang: str) -> Path:
        return self.bin_dir / lang

    # streamed preparation (prepare.shard_lines): fairseq's online-BT task reads bin/shard*/ one per epoch
    @property
    def shard_scratch(self) -> Path:
        """The hash-partitioned training lines before each shard is deduplicated and binarized (removed after)."""
        return self.root / "prepare" / ".shards"

    def shard_lines(self, lang: str, shard: int, deduplicated: bool = False) -> Path:
        return self.shard_scratch / (f"{lang}.{shard:03d}" + (".dedup" if deduplicated else ""))

    def shard_bin(self, shard: int, lang: str) -> Path:
        """A shard's binaries of one language, as a prefix (``train`` -> train.bin, train.idx)."""
        return self.bin_dir / f"shard{shard:03d}" / lang / "train"

    def text(self, split: str, lang: str) -> Path:
        return self.root / "prepare" / "text" / f"{split}.{lang}"

    def tok(self, split: str, lang: str | None = None) -> Path:
        """SentencePiece text that fairseq-preprocess reads (a prefix without ``lang``)."""
        return self.root / "prepare" / "tok" / (f"{split}.{lang}" if lang else split)

    # -- fairseq training stages -------------------------------------------------------------
    def checkpoint(self, stage: str, which: str = "last") -> Path:
        return checkpoint_in(self.dir(stage), which)

    def train_log(self, stage: str) -> Path:
        return train_log_in(self.dir(stage))

    def command(self, stage: str) -> Path:
        return command_in(self.dir(stage))

    def commands(self) -> list[Path]:
        """Every fairseq command line the run has written (one per fairseq stage)."""
        return sorted(self.root.glob(f"*/{command_in(Path()).name}"))

    # -- lms (compression LMs) -----------------------------------------------------------------
    def lm_dir(self, lm: str, stage: str = "lms") -> Path:
        """One compression LM's fairseq folder (lm: a language, a pair 'en-fr', or 'joint')."""
        return self.dir(stage) / f"lm-{lm}"

    def lm_data(self, lm: str, stage: str = "lms") -> Path:
        """That LM's fairseq binaries (its SentencePiece text in ``tok_dir`` of it)."""
        return self.lm_dir(lm, stage) / "data"

    def pseudo_parallel(self, stage: str, kind: str) -> Path:
        """Folder of a train stage's pseudo-parallel binaries: kind = warm | mined."""
        return self.dir(stage) / kind

    def parallel_pairs(self, stage: str, src: str, tgt: str) -> Path:
        """The supervised ceiling's true pairs, in the mined-pairs format the train stage reads."""
        return self.dir(stage) / f"parallel.{src}-{tgt}.tsv"

    # -- align ------------------------------------------------------------------------------
    def words(self, lang: str, stage: str = "align") -> Path:
        return self.dir(stage) / f"words.{lang}.txt"

    def vectors(self, lang: str, stage: str = "align") -> Path:
        return self.dir(stage) / f"vectors.{lang}.npy"

    def mapping(self, src: str, tgt: str, stage: str = "align") -> Path:
        return self.dir(stage) / f"mapping.{src}-{tgt}.npy"

    def lexicon(self, src: str, tgt: str, stage: str = "align") -> Path:
        return self.dir(stage) / f"lexicon.{src}-{tgt}.txt"

    # -- mine / evaluate ---------------------------------------------------------------------
    def sentence_vectors(self, stage: str, src: str, tgt: str) -> Path:
        """Scratch of sharded mining (fp16 sentence vectors, k-NN lists on disk); removed when the pair is mined."""
        return self.dir(stage) / f".vectors.{src}-{tgt}"

    def mined(self, stage: str, src: str, tgt: str) -> Path:
        return self.dir(stage) / f"mined.{src}-{tgt}.tsv"

    def hypotheses(self, stage: str, src: str, tgt: str, system: str = "hyp") -> Path:
        return self.dir(stage) / f"test.{src}-{tgt}.{system}.{tgt}"

    # -- every stage ------------------------------------------------------------------------
    def results(self, stage: str, ext: str = "json") -> Path:
        return self.dir(stage) / f"results.{ext}"

    def figure(self, stage: str, name: str) -> Path:
        return self.dir(stage) / f"{name}.png"

    def stage_results(self, pattern: str = "*", ext: str = "md") -> list[Path]:
        """Every stage's results file whose folder matches ``pattern`` (e.g. ``mine*``), sorted."""
        return sorted(self.root.glob(f"{pattern}/results.{ext}"))

    # -- analyses that are not stages (python -m eval.lenpen, eval.lm_lexicon) --------------------
    def analysis(self, name: str, ext: str = "json", folder: Path | None = None) -> Path:
        return Path(folder or self.dir("analysis")) / f"{name}.{ext}"


class DeclaredLayout(RunLayout):
    """The run's layout as one running stage sees it (``ctx.layout``): it hands out a path in another stage's
    folder only if the stage declared it as an input (or declared a folder holding it, or a file inside it),
    and says so in one line otherwise. So the stage class's ``inputs()`` is the one list of what its code
    reads, checked whenever a path is built; ``UNMT_STRICT_READS`` (every file opened) stays a backstop."""

    def __init__(self, root: str | Path, stage: str, own: list[Path], declared: list[Path]):
        super().__init__(root)
        self._stage = stage
        self._own = [Path(p).resolve() for p in own]
        self._declared = [Path(p).resolve() for p in declared]

    def _allowed(self, path: Path) -> Path:
        if self.owner(path) is None:  # run-level files, paths outside the run
            return path
        p = path.resolve()
        if any(p == d or d in p.parents or p in d.parents for d in self._own + self._declared):
            return path
        from unmt.errors import UnmtError

        raise UnmtError(f"stage {self._stage} uses {path} without declaring it as an input -- add it to the "
                        "stage's inputs() in unmt/stages/")

    def __getattribute__(self, name):
        value = super().__getattribute__(name)
        if name.startswith("_") or name in ("root", "owner"):
            return value
        if isinstance(value, Path):  # a property: spm_model, bin_dir, dictionary...
            return self._allowed(value)
        if callable(value):
            @functools.wraps(value)
            def checked(*args, **kw):
                out = value(*args, **kw)
                if isinstance(out, Path):
                    return self._allowed(out)
                if isinstance(out, list):
                    return [self._allowed(p) if isinstance(p, Path) else p for p in out]
                return out
            return checked
        return value


class SweepLayout:
    """A sweep's folder (unmt/sweep.py): the sweep file as run, the corpora it built, one ordinary run folder
    per point and seed, submitit's job files, and the table of every run."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    @property
    def sweep_file(self) -> Path:
        return self.root / "sweep.yaml"

    def corpus(self, point: str) -> Path:
        return self.root / "corpora" / point

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def records(self) -> Path:
        return self.root / "records"

    def run(self, point: str, seed: int) -> Path:
        return self.runs / f"{point}-s{seed}"

    def record(self, point: str, seed: int) -> Path:
        return self.record_of(self.run(point, seed))

    def record_of(self, run_dir: Path) -> Path:
        """The record of a run folder of this sweep (``runs/POINT-sSEED``), whether the folder exists or not."""
        return self.records / f"{Path(run_dir).name}.json"

    def outputs_of(self, run_dir: Path) -> Path:
        """A run's test translations, kept beside its record (unmt.sweep.write_outputs)."""
        return self.records / f"{Path(run_dir).name}.outputs.tar.xz"

    @property
    def jobs(self) -> Path:
        return self.root / "jobs"

    def results(self, ext: str = "json") -> Path:
        return self.root / f"results.{ext}"

    def analysis(self, name: str, ext: str = "json") -> Path:
        return self.root / f"{name}.{ext}"


def reads_parallel_text(stage_inputs) -> bool:
    """Whether a stage's recorded inputs (manifest) include a corpus's true translations: the supervised
    stage names them ``parallel.SRC-TGT.LANG`` (unmt/stages/supervised.py)."""
    return any(name.startswith("parallel.") for name in stage_inputs)


def corpus_manifest(corpus: Path) -> Path:
    """A corpus folder's record of how it was built (data_prep.build_corpus, data_prep.cipher): it is
    complete when this exists."""
    return Path(corpus) / "manifest.json"


def figure_beside(doc: Path) -> Path:
    """The plot a generated document shows, beside it under its name (docs/thesis.md -> docs/thesis.png)."""
    return Path(doc).with_suffix(".png")
