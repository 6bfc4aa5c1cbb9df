"""unmt: unsupervised machine translation from monolingual text, built on fairseq, faiss and sacrebleu."""
__version__ = "0.1.0"
