"""BEAT2 as users download it: the folder layout, train_test_split.csv and its edge cases."""

from __future__ import annotations

import json

import numpy as np
import pytest

from beat2_fixtures import link_real_takes, write_split_csv, write_take
from gesturekit.errors import DataError, FormatError
from gesturekit.io.beat2 import beat2_splits, find_takes, read_split_csv, select_takes, time_split


def test_download_layout_finds_each_takes_three_files(tmp_path):
    lang = tmp_path / "beat_english_v2.0.0"
    for i, name in enumerate(["2_scott_0_1_1", "4_lawrence_0_2_2"]):
        write_take(lang, name, seed=i, layout=True)
    # other folders of the download may hold npz files that are not takes
    (lang / "weights").mkdir()
    np.savez(lang / "weights" / "mean_vel.npz", mean=np.zeros(3))
    takes = find_takes(lang)
    assert [t.name for t in takes] == ["2_scott_0_1_1", "4_lawrence_0_2_2"]
    for t in takes:
        assert t.npz.parent.name == "smplxflame_30"
        assert t.wav is not None and t.wav.parent.name == "wave16k"
        assert t.textgrid is not None and t.textgrid.parent.name == "textgrid"
    # speakers by name or by BEAT2's numeric id
    assert [t.name for t in select_takes(takes, ["lawrence"], lang)] == ["4_lawrence_0_2_2"]
    assert [t.name for t in select_takes(takes, ["2"], lang)] == ["2_scott_0_1_1"]
    with pytest.raises(DataError, match=r"unknown speaker.*'7'.*lawrence"):
        select_takes(takes, ["7"], lang)


def test_csv_splits_whole_takes_and_names_what_does_not_match(tmp_path):
    lang = tmp_path / "beat_english_v2.0.0"
    for i, name in enumerate(["2_scott_0_1_1", "2_scott_0_2_2", "2_scott_0_3_3", "2_scott_0_4_4"]):
        write_take(lang, name, seed=i, layout=True)
    rows = [("2_scott_0_1_1", "train"), ("2_scott_0_2_2", "val"), ("2_scott_0_3_3", "test"),
            ("2_scott_0_9_9", "train"), ("4_lawrence_0_1_1", "test")]  # fmt: skip
    write_split_csv(lang, rows)
    takes = find_takes(lang)
    sp = beat2_splits(lang, takes)
    assert sp.rule == "csv" and sp.csv == lang / "train_test_split.csv"
    assert sp.of_take == {"2_scott_0_1_1": "train", "2_scott_0_2_2": "dev", "2_scott_0_3_3": "test"}
    assert sp.rows_without_files == ["2_scott_0_9_9", "4_lawrence_0_1_1"]
    assert sp.files_without_rows == ["2_scott_0_4_4"]
    assert sp.split_of("2_scott_0_4_4") is None
    # rows of speakers not chosen are not "without files"
    assert beat2_splits(lang, takes, ["scott"]).rows_without_files == ["2_scott_0_9_9"]
    # the CSV is also found from a sub-folder (a user pointing at smplxflame_30/)
    assert beat2_splits(lang / "smplxflame_30", find_takes(lang / "smplxflame_30")).rule == "csv"


def test_csv_edge_cases(tmp_path):
    f = tmp_path / "train_test_split.csv"
    # a byte-order mark, spaces, upper case, blank lines and "additional" are fine
    f.write_text("\ufeffid , type\n 2_scott_0_1_1 , Train \n\n2_scott_0_2_2,additional\n")
    assert read_split_csv(f) == {"2_scott_0_1_1": "train", "2_scott_0_2_2": "additional"}
    f.write_text("name,split\na,train\n")
    with pytest.raises(FormatError, match=r"train_test_split\.csv.*columns 'id' and 'type'"):
        read_split_csv(f)
    f.write_text("id,type\na,train\nb,validation\n")
    with pytest.raises(FormatError, match=r"line 3: unknown type 'validation' for b"):
        read_split_csv(f)
    f.write_text("id,type\na,train\na,test\n")
    with pytest.raises(FormatError, match=r"line 3: a is listed as both train and test"):
        read_split_csv(f)
    f.write_text("id,type\na,train\na,train\n")  # a repeated row that agrees is harmless
    assert read_split_csv(f) == {"a": "train"}
    f.write_text("id,type\n,train\n")
    with pytest.raises(FormatError, match="line 2: empty id"):
        read_split_csv(f)
    f.write_bytes(b"id,type\n\xff\xfe\x00a")
    with pytest.raises(FormatError, match="not a text CSV"):
        read_split_csv(f)


def test_no_csv_falls_back_to_time_split(tmp_path):
    write_take(tmp_path, "2_scott_0_1_1")
    sp = beat2_splits(tmp_path, find_takes(tmp_path))
    assert sp.rule == "time" and sp.csv is None and sp.of_take == {}
    assert time_split(100) == {"train": (0, 70), "dev": (70, 80), "test": (80, 100)}
    assert time_split(100, holdout=0.5, dev_fraction=0.0) == {"train": (0, 50), "test": (50, 100)}
    with pytest.raises(ValueError, match="must leave frames to train on"):
        time_split(100, holdout=0.6, dev_fraction=0.4)


def test_info_on_real_takes_in_the_download_layout(cli, realdata, tmp_path):
    lang = link_real_takes(realdata, tmp_path / "beat_english_v2.0.0")
    write_split_csv(lang, [("2_scott_0_1_1", "train"), ("2_scott_0_2_2", "test"), ("2_scott_0_3_3", "val")])
    r = cli("cospeech", "info", lang, "--json")
    assert r.code == 0, r
    info = json.loads(r.out)
    assert info["split"]["rule"] == "csv"
    assert info["split"]["rows_without_files"] == ["2_scott_0_3_3"]
    e = info["speakers"]["scott"]
    assert (e["train"], e["dev"], e["test"]) == (1, 0, 1)
    assert abs(e["hours"] - (1906 + 1804) / 30 / 3600) < 1e-6
    text = cli("cospeech", "info", lang).out
    assert "whole takes from" in text and "CSV row without files: 2_scott_0_3_3" in text
