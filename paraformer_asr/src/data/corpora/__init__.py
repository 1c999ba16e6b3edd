"""Corpus preparers: each reads one corpus's native layout (see its module docstring) into a
:class:`~src.data.corpora.common.Collected`; ``scripts/prepare_data.py`` writes the manifests."""

from src.data.corpora import aishell, commonvoice, folder, librispeech

CORPORA = {"librispeech": librispeech, "aishell": aishell, "commonvoice": commonvoice, "folder": folder}
