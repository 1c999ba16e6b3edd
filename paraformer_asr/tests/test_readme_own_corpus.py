"""Acceptance: the README's "Your own corpus" commands, as written, on a folder of WAV + TXT pairs.

The bash block is read from README.md and run in a temporary folder; the only changes are
paths (the project's scripts and configs by absolute path, the fixture folder for
``my_corpus``) and a two-step cap on training.
"""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.data.corpora.fixtures import ENGLISH, folder_tree

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[list[str]]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("### Your own corpus") :]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    joined = block.replace("\\\n", " ")
    return [shlex.split(line) for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]


@pytest.mark.slow  # four subprocesses
def test_own_corpus_section_works_as_written(tmp_path):
    folder_tree(tmp_path, ENGLISH * 2)  # tmp_path/my_corpus: 12 pairs, 4 of them in my_corpus/more/
    commands = readme_commands()
    assert [c[1] for c in commands] == ["scripts/prepare_data.py", "scripts/train.py", "scripts/eval.py", "scripts/infer.py"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for cmd in commands:
        assert cmd[0] == "python"
        cmd = [sys.executable, str(ROOT / cmd[1])] + [str(ROOT / a) if a.startswith("configs/") else a for a in cmd[2:]]
        if cmd[1].endswith("train.py"):
            cmd += ["training.max_steps=2", "training.num_epochs=1", "training.batch_size=4", "training.device=cpu"]
        res = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, f"{shlex.join(cmd)}\n{res.stdout[-2000:]}\n{res.stderr[-3000:]}"
        if cmd[1].endswith("prepare_data.py"):
            assert (tmp_path / "data" / "mine" / "test.jsonl").is_file() and "skipped nothing" in res.stdout
    assert '"cer"' in res.stdout or "hyp:" in res.stdout
    assert res.stdout.count("hyp:") == 8  # infer on the folder: its top-level WAVs (the rest are in more/)
