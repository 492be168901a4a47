"""``bench/stack_oof.py fit --keep-cached``: a member is added to a cache without refitting
the members already in it."""

import json

import numpy as np
import pytest
import stack_oof

LINEAR = {"backend": "linear"}
SPACY = {"backend": "spacy"}


def _fake_fit(calls):
    def fit_member(data, member, folds):
        calls.append(member)
        return {"oof": np.zeros((2, 2)), "member": np.asarray(json.dumps(member, sort_keys=True))}

    return fit_member


def test_reusable_checks_the_recorded_member(tmp_path):
    path = tmp_path / "0.npz"
    assert not stack_oof.reusable(path, LINEAR)
    np.savez(path, oof=np.zeros((2, 2)))  # a cache made before members were recorded
    assert stack_oof.reusable(path, LINEAR)
    np.savez(path, oof=np.zeros((2, 2)), member=np.asarray(json.dumps(LINEAR, sort_keys=True)))
    assert stack_oof.reusable(path, LINEAR)
    with pytest.raises(SystemExit, match="caches"):
        stack_oof.reusable(path, SPACY)


@pytest.mark.parametrize("keep, refitted", [(True, [SPACY]), (False, [LINEAR, SPACY])])
def test_fit_keeps_cached_members_only_when_asked(tmp_path, monkeypatch, keep, refitted):
    calls: list[dict] = []
    monkeypatch.setattr(stack_oof, "fit_member", _fake_fit(calls))
    monkeypatch.setattr(stack_oof, "load_benchmark_dataset", lambda path: None)
    (tmp_path / "snips").mkdir()
    np.savez(tmp_path / "snips" / "0.npz", oof=np.ones((2, 2)))
    argv = ["fit", "--cache", str(tmp_path), "--names", "snips"]
    argv += ["--members", json.dumps([LINEAR, SPACY])] + (["--keep-cached"] if keep else [])
    assert stack_oof.main(argv) == 0
    assert calls == refitted
    assert (tmp_path / "snips" / "1.npz").is_file()
    assert np.load(tmp_path / "snips" / "0.npz")["oof"].sum() == (4 if keep else 0)
