"""How much of a language's LibreOffice help is English left untranslated: the share of its paragraphs (those
with letters) that are identical to the English paragraph of the same page and id. Such text makes a pair
look closer than its languages are: the copy baseline scores, and the joint code length shares English.

    python -m data_prep.untranslated fi hu da
"""
from __future__ import annotations

from pathlib import Path

import click

from data_prep.libreoffice import check_languages, help_root, page_segments
from unmt.errors import UnmtError


def english_pages(cache: Path) -> dict[Path, dict[str, str]]:
    """Every English help page's paragraphs by id, keyed by the page's path under the help root: parsed once
    for all the languages compared with it."""
    english, _, _ = help_root("en", cache)
    return {p.relative_to(english): page_segments(p) for p in sorted(english.rglob("*.html"))}


def untranslated_share(lang: str, cache: Path, english: dict[Path, dict[str, str]] | None = None) -> dict:
    """{"paragraphs": paragraphs of ``lang`` with letters that English has too, "identical": how many of
    them are the English text, "share": identical / paragraphs}. ``english``: english_pages(cache), if read."""
    check_languages(["en", lang])
    english = english if english is not None else english_pages(cache)
    root, _, _ = help_root(lang, cache)
    paragraphs = identical = 0
    for page, theirs in english.items():
        if not (root / page).exists():
            continue
        for key, text in page_segments(root / page).items():
            if key in theirs and any(ch.isalpha() for ch in text):
                paragraphs += 1
                identical += text == theirs[key]
    return {"paragraphs": paragraphs, "identical": identical,
            "share": round(identical / paragraphs, 4) if paragraphs else None}


@click.command()
@click.argument("langs", nargs=-1, required=True)
@click.option("--cache", type=click.Path(path_type=Path), default=Path.home() / ".cache/unmt/debian", show_default=True)
def main(langs, cache):
    """Print, for each of LANGS, the share of its help paragraphs that are English left untranslated."""
    try:
        check_languages(["en", *langs])
        english = english_pages(cache)
        click.echo("| language | paragraphs | identical to English | share |\n|---|---|---|---|")
        for lang in langs:
            r = untranslated_share(lang, cache, english)
            share = f"{100 * r['share']:.1f}%" if r["share"] is not None else "–"
            click.echo(f"| {lang} | {r['paragraphs']} | {r['identical']} | {share} |")
    except UnmtError as e:
        raise click.UsageError(str(e)) from None


if __name__ == "__main__":
    main()
