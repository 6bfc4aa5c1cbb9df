"""Corpus builders and downloaders. Each writes a corpus directory plus ``manifest.json`` atomically."""
