"""What a newcomer meets first, held to what it promises: the README, the recipe index, config help,
decoding that follows the run, readable progress, and file names spelled in one place."""
from __future__ import annotations

import ast
import dataclasses
import io
import re
import shutil
from pathlib import Path

import pytest

from conftest import ROOT, unmt
from unmt.config import RecipeConfig, explain, load_recipe
from unmt.errors import UnmtError

README = ROOT / "README.md"


def paragraphs(text: str) -> list[str]:
    """Prose paragraphs of a Markdown file: code blocks, tables, headings and HTML comments left out."""
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    out = []
    for block in re.split(r"\n\s*\n", text):
        lines = [l for l in block.splitlines() if l.strip() and not l.lstrip().startswith(("|", "#", "<!--"))]
        if lines:
            out.append(" ".join(lines))
    return out


# -- README ---------------------------------------------------------------------------------------
def test_readme_is_a_front_door():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 200
    longest = max(paragraphs(text), key=lambda p: len(p.split()))
    assert len(longest.split()) <= 150, longest[:200]


def test_readme_quick_start_is_what_ci_runs():
    text = README.read_text(encoding="utf-8")
    block = re.search(r"## Quick start.*?```bash\n(.*?)```", text, flags=re.S)[1]
    commands = [l.split("#")[0].strip() for l in block.splitlines() if l.strip()]
    assert len(commands) == 2, commands
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert commands[0].startswith("bash scripts/install.sh") and "bash scripts/install.sh" in ci
    test_cmd = commands[1].removeprefix(".venv/bin/")
    assert test_cmd in ci.replace(".venv/bin/", ""), (test_cmd, ci)
    recipe = commands[0].split("unmt run ", 1)[1].split()[0]
    assert (ROOT / recipe).is_file()


@pytest.mark.parametrize("doc", ["README.md", "recipes/README.md", "CONTRIBUTING.md", "docs/findings.md",
                                 "docs/pipeline.md", "docs/corpora.md"])
def test_every_file_a_doc_links_or_names_exists(doc):
    path = ROOT / doc
    text = path.read_text(encoding="utf-8")
    links = [l.split("#")[0] for l in re.findall(r"\]\(([^)\s]+)\)", text) if not l.startswith(("http", "#"))]
    named = re.findall(r"`((?:recipes|docs)/[\w./{},*-]+\.(?:yaml|md))`", text)
    assert links, doc
    for target in links:
        assert (path.parent / target).exists(), f"{doc} links {target}"
    for target in named:
        if "{" in target or "*" in target:  # a pattern: at least one file matches
            pattern = re.sub(r"\{([^}]*)\}", lambda m: "[" + "".join(set(m[1].replace(",", ""))) + "]*", target)
            assert list(ROOT.glob(pattern)), f"{doc} names {target}"
        else:
            assert (ROOT / target).exists(), f"{doc} names {target}"


def test_readme_tables_are_written_by_the_report(tmp_path):
    """The README's numbers come from docs/results.md through eval.report: writing them again changes nothing."""
    from eval.report import read_sections, write_readme, write_recipes_index

    sections = read_sections(ROOT / "docs" / "results.md")
    readme = tmp_path / "README.md"
    shutil.copy(README, readme)
    write_readme(readme, sections)
    assert readme.read_text() == README.read_text()
    for block in ("default", "glance"):
        start = README.read_text().index(f"<!-- {block}:start -->")
        assert README.read_text()[start:].split("\n", 2)[1].startswith("|"), block  # a table, not empty
    (tmp_path / "recipes").mkdir()
    index = tmp_path / "recipes" / "README.md"
    shutil.copy(ROOT / "recipes" / "README.md", index)
    write_recipes_index(index, sections, ROOT / "recipes")
    assert index.read_text() == (ROOT / "recipes" / "README.md").read_text()


# -- recipes --------------------------------------------------------------------------------------
def test_recipe_index_lists_exactly_the_recipes_that_exist():
    listed = set(re.findall(r"^\| \[([\w./-]+\.yaml)\]", (ROOT / "recipes" / "README.md").read_text(), flags=re.M))
    present = {p.relative_to(ROOT / "recipes").as_posix() for p in (ROOT / "recipes").rglob("*.yaml")}
    assert listed == present


def test_a_ceiling_recipe_is_its_base_plus_the_ceiling():
    for base in ("default.yaml", "pairs/en-de.yaml", "pairs/en-zh.yaml", "multilingual/multilingual-5.yaml"):
        ceiling = ROOT / "recipes" / base.replace(".yaml", "-ceiling.yaml")
        assert len([l for l in ceiling.read_text().splitlines() if not l.startswith("#")]) == 2
        expected = load_recipe(ROOT / "recipes" / base, {"supervised_ceiling": True})
        assert load_recipe(ceiling) == expected


def test_cpu_default_holds_the_measured_choices_and_the_old_ones_stay_reachable():
    new = load_recipe(ROOT / "recipes" / "default.yaml")
    old = load_recipe(ROOT / "recipes" / "default.yaml", {"preset": "cpu-identical-greedy"})
    assert (new.align.methods, new.train.target_vocab_min_ratio, new.evaluate.beam, new.evaluate.lenpen) == \
        (["identical", "context"], 0.1, 4, 2.0)
    assert (old.align.methods, old.train.target_vocab_min_ratio, old.evaluate.beam, old.evaluate.lenpen) == \
        (["identical"], 0.0, 1, 1.0)
    assert old.train.lr == new.train.lr == 1e-3 and old.precision == new.precision == "bf16"


def test_a_stage_fingerprint_does_not_depend_on_where_the_recipe_lives(tmp_path):
    from unmt.layout import RunLayout
    from unmt.runner import build_plan

    moved = tmp_path / "elsewhere" / "mine.yaml"
    moved.parent.mkdir()
    shutil.copy(ROOT / "recipes" / "pairs" / "en-de.yaml", moved)
    plans = [build_plan(load_recipe(p), RunLayout(tmp_path / "run")) for p in (ROOT / "recipes/pairs/en-de.yaml", moved)]
    assert [(s.name, s.config()) for s in plans[0]] == [(s.name, s.config()) for s in plans[1]]


@pytest.mark.parametrize("content, needle", [
    ("extends: b.yaml\n", "in a circle"),
    ("extends: missing.yaml\nname: x\n", "missing.yaml"),
    ("extends: [a, b]\n", "extends"),
])
def test_bad_extends_is_one_line(tmp_path, content, needle):
    (tmp_path / "a.yaml").write_text(content)
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    with pytest.raises(UnmtError) as e:
        load_recipe(tmp_path / "a.yaml")
    assert needle in str(e.value) and "\n" not in str(e.value)


# -- config help ----------------------------------------------------------------------------------
def test_every_config_field_has_help():
    missing = []

    def walk(cls, prefix):
        for f in dataclasses.fields(cls):
            if not f.metadata.get("help", "").strip():
                missing.append(prefix + f.name)
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            if dataclasses.is_dataclass(default):
                walk(type(default), f"{prefix}{f.name}.")
    walk(RecipeConfig, "")
    assert not missing


def test_explain_says_where_each_value_came_from_and_loads_back(tmp_path):
    r = unmt("run", "recipes/default-ceiling.yaml", "--dump-config", "--explain", "--set", "train.max_update=900")
    text = r.stdout

    def source(dotted):  # the comment line above "field: value" (inside its section)
        lines, start = text.splitlines(), 0
        *section, field = dotted.split(".")
        if section:
            start = lines.index(f"{section[0]}:")
        i = next(i for i, l in enumerate(lines) if i > start and l.strip().startswith(f"{field}:"))
        return lines[i - 1]

    assert "[--set]" in source("train.max_update") and "[default]" in source("pretrain.max_update")
    assert "[recipes/default-ceiling.yaml]" in source("supervised_ceiling")
    assert "[recipes/default.yaml]" in source("corpus") and "[preset cpu-default]" in source("evaluate.lenpen")
    assert "[default]" in source("prepare.vocab_size") and "beam size" in source("evaluate.beam")
    dumped = tmp_path / "explained.yaml"
    dumped.write_text(text)
    assert load_recipe(dumped) == load_recipe(ROOT / "recipes" / "default-ceiling.yaml", {"train": {"max_update": 900}})
    assert explain  # the function the command prints


# -- decoding follows the run ----------------------------------------------------------------------
def test_translate_decodes_as_the_run_was_evaluated_without_flags(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    unmt("run", "recipes/tests/tiny.yaml", "--run-dir", run, "--quiet", "--until", "evaluate",
         "--set", "evaluate.beam=4", "--set", "evaluate.lenpen=2", "--set", "evaluate.no_repeat_ngram=2")
    test_en = (run / "prepare" / "text" / "test.en").read_text().splitlines()[:40]
    (tmp_path / "in.en").write_text("\n".join(test_en) + "\n")
    evaluated = (run / "evaluate" / "test.en-fr.hyp.fr").read_text()
    out = unmt("translate", "--run-dir", run, "--src", "en", "--tgt", "fr", "-i", tmp_path / "in.en").stdout
    assert out == evaluated
    greedy = unmt("translate", "--run-dir", run, "--src", "en", "--tgt", "fr", "-i", tmp_path / "in.en",
                  "--beam", "1", "--lenpen", "1", "--no-repeat-ngram", "0").stdout
    assert greedy == (tiny_run / "evaluate" / "test.en-fr.hyp.fr").read_text()  # the flags still override
    assert greedy != out  # so the default above was not greedy by chance


# -- progress a person reads -----------------------------------------------------------------------
def test_progress_lines_from_a_real_training_log(tiny_run):
    from unmt.fairseq_run import Progress

    stream = io.StringIO()
    progress = Progress("train", 6, 0, stream=stream)
    for line in (tiny_run / "train" / "train.log").read_text().splitlines(keepends=True):
        progress.feed(line)
    lines = stream.getvalue().splitlines()
    assert lines and all(l.startswith("[train] ") and "/6 updates" in l for l in lines)
    assert any("dev BLEU en-fr" in l and "fr-en" in l for l in lines)
    assert not any("{" in l for l in lines)  # no raw JSON


# -- file names in one place ----------------------------------------------------------------------
RUN_FILE_NAMES = ("manifest.json", ".started.json", "spm.model", "dict.txt", "command.txt", "train.log",
                  "checkpoint_", "results.", "lexicon.", "mined.", "mapping.", "vectors.", "words.", "heldout.",
                  "lenpen.", "lm_lexicon.", "train.txt", ".png", ".shards", "shard{", "parallel.", "lm-")
RUN_FOLDER_NAMES = {"tok", "data", "text", "analysis"}  # spelled alone: a folder of the run
# what may spell such a name outside unmt/layout.py: (file, string) -- files that are not a run's
ALLOWED = {("eval/report.py", "docs/results.md"), ("eval/report.py", "[{}](../docs/results.md#{})"),
           ("unmt/stages/supervised.py", "parallel.{}-{}.{}.xz")}  # the corpus's file, not the run's


def _spelled_names(path: Path):
    """String literals in ``path`` that spell a run file's name. Prose (anything with a space), docstrings,
    artifact names (dict keys and ``ctx.input(NAME)``: names in the manifest, not paths) are not paths."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and body \
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            skip.add(id(body[0].value))
        if isinstance(node, ast.Dict):
            skip.update(id(k) for k in node.keys if k is not None)
        if isinstance(node, ast.DictComp):
            skip.add(id(node.key))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "input":
            skip.update(id(a) for a in node.args)
        if isinstance(node, ast.JoinedStr):
            skip.update(id(v) for v in node.values)
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
        elif isinstance(node, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
        else:
            continue
        if not any(c.isspace() for c in text) and (any(n in text for n in RUN_FILE_NAMES)
                                                   or text in RUN_FOLDER_NAMES):
            yield node.lineno, text


def test_run_file_names_are_spelled_only_in_layout():
    found = [f"{p.relative_to(ROOT)}:{line}: {text!r}"
             for folder in ("unmt", "eval") for p in sorted((ROOT / folder).rglob("*.py")) if p.name != "layout.py"
             for line, text in _spelled_names(p) if (p.relative_to(ROOT).as_posix(), text) not in ALLOWED]
    assert not found, "run file names belong in unmt/layout.py:\n" + "\n".join(found)


def test_the_name_check_catches_a_spelled_name(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text('from pathlib import Path\n\ndef f(run):\n    """Reads results.json."""\n'
                   '    return Path(run) / "evaluate" / "results.json", {"spm.model": 1}\n')
    assert [t for _, t in _spelled_names(bad)] == ["results.json"]


# -- cached runs stay cached ----------------------------------------------------------------------
@pytest.mark.parametrize("recipe", ["default.yaml", "tests/tiny.yaml", "pairs/en-de.yaml", "pairs/en-zh.yaml",
                                    "multilingual/multilingual-5.yaml"])
def test_published_recipes_fingerprint_as_their_runs_did(recipe, tmp_path):
    """Each stage's config slice and input names, as recorded before the recipes moved into folders and the
    measured choices into cpu-default (tests/data/stage-configs.json): a run made then is still up to date,
    by the comparison the runner and the sweep make (same_config: dev-only fields, such as the retired
    valid_batches, count only where checkpoint_best.pt is evaluated)."""
    import json

    from unmt.config import same_config
    from unmt.layout import RunLayout
    from unmt.runner import build_plan

    cfg = load_recipe(ROOT / "recipes" / recipe)
    recorded = json.loads((ROOT / "tests" / "data" / "stage-configs.json").read_text())[Path(recipe).stem]
    plan = build_plan(cfg, RunLayout(tmp_path / "run"))
    current = {s.name: json.loads(json.dumps(s.config())) for s in plan}
    assert sorted(current) == sorted(k for k in recorded if k != "_inputs")
    assert [name for name, conf in current.items() if not same_config(recorded[name], conf)] == []
    assert {s.name: sorted(s.inputs()) for s in plan if s.kind != "prepare"} == recorded["_inputs"]


def test_dev_only_fields_rerun_training_only_where_dev_bleu_picks_the_evaluated_checkpoint(tmp_path):
    """How many dev sentences validation reads changes the dev log and checkpoint_best.pt, never the last
    checkpoint: a run evaluated on its last one stays cached; one evaluated on its best trains again."""
    import json

    from unmt.layout import RunLayout
    from unmt.manifest import Manifest
    from unmt.stages.train import Train

    def slice_of(overrides):
        cfg = load_recipe(ROOT / "recipes" / "default.yaml", overrides)
        return json.loads(json.dumps(Train(cfg, RunLayout(tmp_path / "run")).config()))

    last, last_more = slice_of({}), slice_of({"train": {"valid_sentences": 900}})
    assert last == last_more and "valid_sentences" not in last and "valid_bleu" not in last
    best, best_more = (slice_of({"evaluate": {"checkpoint": "best"}, "train": {"valid_sentences": n}}) for n in (400, 900))
    assert best["valid_sentences"] == 400 and best_more["valid_sentences"] == 900 and best["valid_bleu"] is True

    def why_stale(recorded, current):  # a train stage recorded before valid_sentences, with valid_batches
        manifest = Manifest(tmp_path / "run")
        manifest.data["stages"]["train"] = {"config": recorded, "inputs": {}, "outputs": {}}
        return manifest.why_stale("train", {}, current, {})

    assert why_stale({**last, "valid_batches": 8, "valid_bleu": True}, last) is None
    before = {k: v for k, v in best.items() if k != "valid_sentences"} | {"valid_batches": 8}
    assert why_stale(before, best) == "config changed (valid_sentences)"


def test_a_stage_sees_only_the_files_it_declared(tmp_path):
    """ctx.layout hands out another stage's file only if the stage declared it: the stage class's inputs()
    is the one list, checked when a path is built (UNMT_STRICT_READS stays a backstop on every open)."""
    from unmt.layout import DeclaredLayout, RunLayout

    L = RunLayout(tmp_path)
    seen = DeclaredLayout(tmp_path, "evaluate", [L.dir("evaluate")], [L.lexicon("en", "fr"), L.bin_dir])
    assert seen.lexicon("en", "fr") == L.lexicon("en", "fr") and seen.results("evaluate") == L.results("evaluate")
    assert seen.dictionary == L.dictionary and seen.manifest == L.manifest  # inside a declared folder; run-level
    for undeclared in (lambda: seen.lexicon("fr", "en"), lambda: seen.text("test", "en"), lambda: seen.spm_model,
                       lambda: seen.checkpoint("train")):
        with pytest.raises(UnmtError, match="without declaring it") as e:
            undeclared()
        assert "\n" not in str(e.value)
