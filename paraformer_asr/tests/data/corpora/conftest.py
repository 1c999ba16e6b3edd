"""One pristine tree per corpus for the whole session (FLAC/MP3 encoding is the slow part);
tests that change a tree work on a copy (``copy_tree``)."""

import shutil

import pytest

from tests.data.corpora import fixtures


@pytest.fixture(scope="session")
def librispeech_root(tmp_path_factory):
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg not on the PATH (apt-get install ffmpeg): FLAC fixtures cannot be written")
    root = tmp_path_factory.mktemp("librispeech")
    fixtures.librispeech_tree(root)
    return root


@pytest.fixture(scope="session")
def commonvoice_root(tmp_path_factory):
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg not on the PATH (apt-get install ffmpeg): MP3 fixtures cannot be written")
    root = tmp_path_factory.mktemp("commonvoice")
    fixtures.commonvoice_tree(root)
    return root


def copy_tree(src, dst):
    shutil.copytree(src, dst)
    return dst
