"""align: bilingual lexicon induction from two monolingual embedding spaces (unmt/align.py)."""
from __future__ import annotations

from pathlib import Path

from unmt.config import fingerprint_fields
from unmt.errors import UnmtError, fail
from unmt.segment import spaced
from unmt.stages.base import Stage, register_stage


@register_stage("align")
class Align(Stage):
    help = "Induce a bilingual lexicon from monolingual word vectors (faiss, CSLS, Procrustes; MUSE/VecMap)."

    @classmethod
    def validate(cls, cfg, where):
        from unmt.config import dictionary_for, pair_list

        a = cfg.align
        found = [dictionary_for(cfg, *p).is_file() for p in pair_list(cfg)] if cfg.dictionary_test else [True]
        if not any(found):  # one pair without its dictionary is "P@1 not available"; none at all is a wrong path
            raise fail(cfg.dictionary_test, "dictionary_test not found" + (" for any pair" if len(found) > 1 else ""),
                       "give a MUSE-format 'src tgt' file (with {pair} for several pairs), or dictionary_test: "
                       "null for no P@1")
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
        align = fingerprint_fields(c.align)
        return {**self.langs_config(), "seed": c.seed, **align}

    def inputs(self):
        from unmt.align import train_dictionary
        from unmt.config import dictionary_for, pair_list

        c, L = self.cfg, self.layout
        files = {}
        if c.align.vectors == "vec":
            files |= {f"vec:{lang}": Path(p) for lang, p in c.align.vec_files.items() if lang in c.langs}
        else:
            files |= self.texts("train")
        if c.align.vectors in ("encoder", "embedding"):
            files |= {"checkpoint": L.checkpoint("pretrain"), "dict": L.dictionary, "spm.model": L.spm_model}
        for s, t in pair_list(c):
            test = dictionary_for(c, s, t)
            if test and test.is_file():
                files[f"dictionary_test.{s}-{t}"] = test
                if train_dictionary(test).is_file():
                    files[f"dictionary_train.{s}-{t}"] = train_dictionary(test)
        return files

    def outputs(self):
        from unmt.config import directions

        L = self.layout
        files = {"results": L.results(self.name)}
        for a, b in directions(self.cfg):
            files |= {f"lexicon.{a}-{b}": L.lexicon(a, b), f"mapping.{a}-{b}": L.mapping(a, b)}
        for lang in self.cfg.langs:
            files |= {f"words.{lang}": L.words(lang), f"vectors.{lang}": L.vectors(lang)}
        return files

    def run(self, ctx):
        from unmt.align import align_stage

        checkpoint = ctx.input("checkpoint") if "checkpoint" in self.inputs() else None
        return align_stage(self.cfg, ctx.layout, checkpoint)
