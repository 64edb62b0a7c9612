"""Bytes that are not UTF-8 in a data or card file: one line naming the file, the line and the
byte, never a ``UnicodeDecodeError`` traceback.

The expected lines and columns are counted by hand from the bytes each test writes.
"""
from pathlib import Path

import pytest

from pgg_zoo.cards import CardError, load_card
from pgg_zoo.data.errors import DatasetFormatError, utf8_problem, utf8_text
from pgg_zoo.vision.cub import CUBDataset
from pgg_zoo.vision.files import read_records
from pgg_zoo_tasks.stad.data.ava import parse_label_map, read_ava_csv, read_exclusions
from pgg_zoo_tasks.stad.data.errors import DatasetFormatError as STADFormatError
from test_wsol_data import make_cub

BAD = b"\xff\xfe bad"  # also a UTF-16 byte-order mark


def _one_line(err) -> str:
    msg = str(err.value)
    assert "\n" not in msg and "Traceback" not in msg
    return msg


def test_utf8_problem_counts_lines_and_columns(tmp_path):
    f = tmp_path / "x.txt"
    # line 2: "été caf" (7 characters, 9 bytes) in UTF-8, then a Latin-1 "é" as 8th character
    f.write_bytes(b"ok\n\xc3\xa9t\xc3\xa9 caf\xe9\n")
    assert utf8_problem(f) == (2, "not UTF-8 text (byte 0xe9 in column 8); save the file as UTF-8")
    f.write_bytes(BAD)
    line, what = utf8_problem(f)
    assert line == 1 and "0xff in column 1" in what and "UTF-16 byte-order mark" in what
    f.write_bytes("\ufeffa ok\n".encode("utf-8"))  # a UTF-8 BOM is fine
    assert utf8_problem(f) is None


def test_a_decode_error_from_elsewhere_is_not_blamed_on_the_file(tmp_path):
    f = tmp_path / "fine.txt"
    f.write_text("fine\n")
    with pytest.raises(UnicodeDecodeError):
        with utf8_text(f):
            b"\xff".decode("utf-8")


def test_line_is_exact_past_the_decoders_first_chunk(tmp_path):
    f = tmp_path / "big.txt"
    f.write_bytes(b"1 a.jpg\n" * 5000 + b"5001 b\xff.jpg\n")  # 40 000 bytes before the bad one
    with pytest.raises(DatasetFormatError) as err:
        list(read_records(f, 2))
    assert err.value.file == f and err.value.line == 5001
    assert "byte 0xff in column 7" in _one_line(err)


@pytest.mark.parametrize("name", ["images.txt", "classes.txt", "image_class_labels.txt",
                                  "train_test_split.txt", "bounding_boxes.txt"])
def test_cub_text_files(tmp_path, name):
    root = make_cub(tmp_path / "cub")
    (root / name).write_bytes(BAD)
    with pytest.raises(DatasetFormatError) as err:
        CUBDataset(root)
    assert _one_line(err).startswith(f"{root / name}, line 1: not UTF-8 text")


def test_wsoleval_style_csv(tmp_path):
    f = tmp_path / "image_ids.txt"
    f.write_bytes(b"train/a.png\n" + BAD + b"\n")
    with pytest.raises(DatasetFormatError) as err:
        list(read_records(f, 1, ","))
    assert _one_line(err).startswith(f"{f}, line 2: not UTF-8 text")


@pytest.mark.parametrize("reader, name, good", [
    (read_ava_csv, "ava_train_v2.2.csv", b"vid1,0902,0.1,0.1,0.5,0.5,12,0\n"),
    (read_exclusions, "ava_train_excluded_timestamps_v2.2.csv", b"vid1,0903\n"),
    (parse_label_map, "ava_action_list_v2.2.pbtxt", b'item {\n  name: "bend/bow"\n  id: 1\n}\n'),
])
def test_ava_annotation_files(tmp_path, reader, name, good):
    f = tmp_path / name
    f.write_bytes(good)
    reader(f)  # the file as written reads
    f.write_bytes(good + BAD + b"\n")
    with pytest.raises(STADFormatError) as err:
        reader(f)
    line = good.count(b"\n") + 1
    assert _one_line(err).startswith(f"{f}:{line}: not UTF-8 text")
    assert err.value.path == str(f)


def test_card_file_and_categories_file(tmp_path):
    card = tmp_path / "bad_card.yaml"
    card.write_bytes(b"name: x\n" + BAD + b"\n")
    with pytest.raises(CardError) as err:
        load_card(card)
    assert _one_line(err).startswith(f"model card {card}, line 2: not UTF-8 text")

    shipped = Path(__file__).resolve().parents[1] / "model_cards" / "classification"
    text = (shipped / "resnet50_imagenet1k_v1.yaml").read_text()
    assert "categories_file: ../categories/imagenet1k.txt" in text
    folder = tmp_path / "cards" / "classification"
    folder.mkdir(parents=True)
    (tmp_path / "cards" / "categories").mkdir()
    (tmp_path / "cards" / "categories" / "imagenet1k.txt").write_bytes(b"tench\n" + BAD + b"\n")
    (folder / "resnet50_imagenet1k_v1.yaml").write_text(text)
    with pytest.raises(CardError) as err:
        load_card(folder / "resnet50_imagenet1k_v1.yaml")
    assert "imagenet1k.txt, line 2: not UTF-8 text" in _one_line(err)
