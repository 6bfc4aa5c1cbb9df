"""align: bilingual lexicon induction from two monolingual embedding spaces (unmt/align.py)."""
from __future__ import annotations

from pathlib import Path

from unmt.config import to_dict
from unmt.errors import UnmtError, fail
from unmt.segment import spaced
from unmt.stages.base import Stage, register_stage


@register_stage("align")
class Align(Stage):
    help = "Induce a bilingual lexicon from monolingual word vectors (faiss, CSLS, Procrustes; MUSE/VecMap)."

    @classmethod
    def validate(cls, cfg, where):
        a = cfg.align
        if cfg.dictionary_test and not Path(cfg.dictionary_test).is_file():
            raise fail(cfg.dictionary_test, "dictionary_test not found",
                       "give a MUSE-format 'src tgt' file, or dictionary_test: null for no P@1")
        unspaced = [lang for lang in cfg.langs if not spaced(lang)]
        if a.vectors == "encoder" and unspaced:
            raise UnmtError(f"{where}: align.vectors: encoder reads words off SentencePiece's word boundaries, which "
                            f"{', '.join(unspaced)} text does not mark -- use ppmi or embedding (segmented words)")
        for lang, path in ((a.vec_files or {}).items() if a.vectors == "vec" else ()):
            if not Path(path).is_file():
                raise fail(path, f"align.vec_files.{lang} not found", "give a word2vec/fastText .vec file")

    def config(self):
        c = self.cfg
        # the dictionaries' contents are inputs; their paths are not part of the result
        return {"langs": list(c.langs), "seed": c.seed, **to_dict(c.align)}

    def inputs(self):
        from unmt.align import train_dictionary

        c, L = self.cfg, self.layout
        files = {}
        if c.align.vectors == "vec":
            files |= {f"vec:{lang}": Path(p) for lang, p in c.align.vec_files.items() if lang in c.langs}
        else:
            files |= self.texts("train")
        if c.align.vectors in ("encoder", "embedding"):
            files |= {"checkpoint": L.checkpoint("pretrain"), "dict": L.dictionary, "spm.model": L.spm_model}
        if c.dictionary_test:
            files["dictionary_test"] = Path(c.dictionary_test)
            if train_dictionary(c.dictionary_test).is_file():
                files["dictionary_train"] = train_dictionary(c.dictionary_test)
        return files

    def outputs(self):
        L, (s, t) = self.layout, self.cfg.langs
        files = {"results": L.results(self.name)}
        for a, b in ((s, t), (t, s)):
            files |= {f"lexicon.{a}-{b}": L.lexicon(a, b), f"mapping.{a}-{b}": L.mapping(a, b)}
        for lang in (s, t):
            files |= {f"words.{lang}": L.words(lang), f"vectors.{lang}": L.vectors(lang)}
        return files

    def run(self, ctx):
        from unmt.align import align_stage

        checkpoint = ctx.input("checkpoint") if "checkpoint" in self.inputs() else None
        return align_stage(self.cfg, self.layout, checkpoint)
