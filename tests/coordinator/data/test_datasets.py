"""Data: files and arrays are checked up front, each problem told in one line; nothing is unpickled."""

from __future__ import annotations

import pickle
import re

import numpy as np
import pytest

from coordinator import SearchConfig, search
from coordinator.config import ConfigError
from coordinator.data.datasets import from_arrays, load_dataset, read_dataset_file

X_GOOD = np.array([[0.0, 1.0], [1.0, 0.5], [2.0, -1.0], [3.0, 0.25]])
Y_GOOD = np.array([0, 1, 2, 1])


class _Unpickled:
    """An object whose unpickling creates a file: proof that a loader unpickled it."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _csv(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _npz(tmp_path, name="data.npz", **arrays):
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


def test_an_npz_file_loads(tmp_path):
    dataset = read_dataset_file(_npz(tmp_path, X=X_GOOD, y=Y_GOOD))
    assert dataset.X.dtype == np.float64 and dataset.X.shape == (4, 2)
    assert dataset.labels.tolist() == [0, 1, 2, 1] and dataset.num_classes == 3


@pytest.mark.parametrize("header", ["", "first,second,label\n"])
def test_a_csv_file_loads_with_or_without_a_header(tmp_path, header):
    dataset = read_dataset_file(_csv(tmp_path, header + "0,1,0\n1,0.5,1\n\n2,-1,2.0\n"))
    np.testing.assert_array_equal(dataset.X, [[0, 1], [1, 0.5], [2, -1]])
    assert dataset.labels.tolist() == [0, 1, 2] and dataset.num_classes == 3


def test_arrays_load_with_one_hot_labels_and_a_single_feature():
    dataset = from_arrays([0.5, 1.5, 2.5], [[1, 0], [0, 1], [0, 1]])
    assert dataset.X.shape == (3, 1) and dataset.labels.tolist() == [0, 1, 1]


# name -> (arrays X, y; what the message says)
BAD_ARRAYS = {
    "NaN feature": (
        [[0.0, 1.0], [np.nan, 2.0]], [0, 1], "X must be finite numbers, got nan (row 1, column 0)"),
    "infinite feature": ([[0.0, 1.0], [1.0, np.inf]], [0, 1], "X must be finite numbers, got inf (row 1, column 1)"),
    "complex feature": (np.array([[1 + 2j, 0], [1, 0]]), [0, 1], "X must be real numbers, got complex values"),
    "ragged features": ([[0.0, 1.0], [1.0]], [0, 1], "X must be a rectangular array of numbers"),
    "text features": ([["a", "b"], ["c", "d"]], [0, 1], "X must be a rectangular array of numbers"),
    "fractional label": (X_GOOD, [0, 1, 1.5, 0], "labels must be whole numbers or text, got 1.5 (row 2)"),
    "NaN label": (X_GOOD, [0, 1, np.nan, 0], "labels must be whole numbers or text, got nan (row 2)"),
    "mixed labels": (X_GOOD, np.array([0, "a", 1, "b"], dtype=object), "labels must be all whole numbers or all text"),
    "ragged labels": (X_GOOD, [[0], [1, 0], [1], [0]], "y must be a (samples,) array of labels, got ragged"),
    "lengths differ": (X_GOOD, [0, 1, 0], "X has 4 rows but y has 3 labels"),
    "no samples": (np.zeros((0, 2)), np.zeros(0, dtype=int), "no samples"),
    "a single class": (X_GOOD, [1, 1, 1, 1], "needs at least two classes, found one"),
    "labels of three axes": (X_GOOD, np.zeros((4, 1, 1), dtype=int), "got shape (4, 1, 1)"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD_ARRAYS))
def test_bad_arrays_are_refused_in_one_line(case):
    X, y, expected = BAD_ARRAYS[case]
    with pytest.raises(ConfigError) as caught:
        from_arrays(X, y)
    assert str(caught.value).startswith("arrays: ")
    assert expected in str(caught.value)


# name -> (file name, contents, what the message says after the path)
BAD_CSV = {
    "empty": ("", "no data rows"),
    "only a header": ("a,b,label\n", "no data rows"),
    "ragged row": ("0,1,0\n1,1\n2,2,1\n", "line 2 has 2 columns, expected 3"),
    "text in a row": ("0,1,0\n1,x,1\n", "line 2, column 1 has 'x', not a number"),
    "an empty cell": ("a,b,label\n0,1,0\n1,,1\n", "line 3, column b is empty"),
    "an empty label": ("0,1,0\n1,1,\n", "line 2 has no label (column 2 is empty)"),
    "one column": ("0\n1\n", "each row needs at least one feature besides the label"),
    "NaN feature": ("0,1,0\nnan,1,1\n", "line 2, column 0 has 'nan', not a finite number"),
    "fractional label": ("0,1,0\n1,1,0.5\n", "line 2, column 2 has '0.5'; labels must be whole numbers or text"),
    "a single class": ("0,1,1\n1,1,1\n", "needs at least two classes"),
}


@pytest.mark.parametrize("case", list(BAD_CSV))
def test_a_bad_csv_file_is_refused_naming_the_file(tmp_path, case):
    text, expected = BAD_CSV[case]
    path = _csv(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        read_dataset_file(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert expected in str(caught.value)


def test_a_binary_file_named_csv_is_refused(tmp_path):
    path = tmp_path / "data.csv"
    path.write_bytes(b"\xff\xfe\x00\x81,\x9c\n" * 4)
    with pytest.raises(ConfigError, match=r"data\.csv: not a text \(UTF-8\) \.csv file$"):
        read_dataset_file(path)


def test_an_npz_without_the_expected_arrays_says_which_are_missing(tmp_path):
    path = _npz(tmp_path, features=X_GOOD, y=Y_GOOD)
    with pytest.raises(ConfigError, match=r"data\.npz: missing array X \(found: features, y\)$"):
        read_dataset_file(path)
    path = _npz(tmp_path, name="empty.npz")
    with pytest.raises(ConfigError, match=r"empty\.npz: missing array X and y \(found: nothing\)$"):
        read_dataset_file(path)


def test_a_single_npy_array_named_npz_is_refused(tmp_path):
    path = tmp_path / "data.npz"
    with path.open("wb") as handle:
        np.save(handle, X_GOOD)
    with pytest.raises(ConfigError, match=r"data\.npz: holds one \.npy array; save X and y with np\.savez$"):
        read_dataset_file(path)


@pytest.mark.parametrize("keep", [0, 10, 100, -1])
def test_a_truncated_npz_is_refused(tmp_path, keep):
    path = _npz(tmp_path, X=X_GOOD, y=Y_GOOD)
    path.write_bytes(path.read_bytes()[:keep])
    with pytest.raises(ConfigError, match=r"data\.npz: not a (readable )?\.npz"):
        read_dataset_file(path)


def test_an_npz_holding_objects_is_refused_and_never_unpickled(tmp_path):
    marker = tmp_path / "unpickled"
    objects = np.empty(4, dtype=object)
    objects[:] = [_Unpickled(marker)] * 4
    path = _npz(tmp_path, X=objects, y=Y_GOOD)
    with pytest.raises(ConfigError, match="object arrays are never unpickled"):
        read_dataset_file(path)
    assert not marker.exists()


def test_a_pickle_named_npz_is_refused_and_never_unpickled(tmp_path):
    marker = tmp_path / "unpickled"
    path = tmp_path / "data.npz"
    path.write_bytes(pickle.dumps({"X": _Unpickled(marker), "y": Y_GOOD}))
    with pytest.raises(ConfigError, match=r"data\.npz: not a \.npz archive \(pickled files are never loaded\)$"):
        read_dataset_file(path)
    assert not marker.exists()


def test_a_missing_data_file_and_an_unknown_type_are_named(tmp_path):
    with pytest.raises(ConfigError, match=r"absent\.csv: no such data file$"):
        read_dataset_file(tmp_path / "absent.csv")
    path = tmp_path / "data.txt"
    path.write_text("0,1,0\n")
    unknown = r"data\.txt: unknown data file type '\.txt'; use a \.csv, \.npz or \.npy file$"
    with pytest.raises(ConfigError, match=unknown):
        read_dataset_file(path)


def test_layers_must_fit_the_features_of_a_file(tmp_path):
    path = _npz(tmp_path, X=np.ones((4, 3)), y=Y_GOOD)
    config = SearchConfig(dataset=str(path), layers=(2, 8, 3))
    with pytest.raises(ConfigError, match=r"^layers: the data has 3 features, but layers start with 2$"):
        load_dataset(config)


def test_more_classes_than_outputs_are_refused_naming_them(tmp_path):
    path = _csv(tmp_path, "0,1,0\n1,1,1\n2,2,5\n")
    config = SearchConfig(dataset=str(path), layers=(2, 8, 2))
    with pytest.raises(ConfigError, match=r"^layers: the data has 3 classes \(0, 1, 5\), but layers end with 2$"):
        load_dataset(config)


# A port where nothing listens: a search that tried Ray before checking its input would fail to
# connect there (a ClusterError); one that checks first refuses the input (a ConfigError).
NO_RAY_HERE = "127.0.0.1:9"


@pytest.mark.parametrize("case", ["NaN feature", "lengths differ", "a single class", "fractional label"])
def test_bad_arrays_are_refused_before_ray_starts(tmp_path, case):
    X, y, expected = BAD_ARRAYS[case]
    with pytest.raises(ConfigError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        search(SearchConfig(layers=(2, 8, 2)), X, y, NO_RAY_HERE, run_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_a_bad_data_file_is_refused_before_ray_starts(tmp_path):
    path = _csv(tmp_path, "0,1,0\n1,oops,1\n")
    with pytest.raises(ConfigError, match="line 2, column 1 has 'oops', not a number"):
        search(SearchConfig(dataset=str(path), layers=(2, 8, 2)), address=NO_RAY_HERE, run_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_arrays_that_do_not_fit_the_layers_are_refused_before_ray_starts():
    with pytest.raises(ConfigError, match=r"^layers: the data has 2 features, but layers start with 3$"):
        search(SearchConfig(layers=(3, 8, 3)), X_GOOD, Y_GOOD, NO_RAY_HERE)
    with pytest.raises(ConfigError, match=r"^layers: the data has 3 classes \(0, 1, 2\), but layers end with 2$"):
        search(SearchConfig(layers=(2, 8, 2)), X_GOOD, Y_GOOD, NO_RAY_HERE)


def test_the_default_data_set_is_checked_against_the_layers_before_ray_starts():
    with pytest.raises(ConfigError, match=r"^layers: the data has 2 features, but layers start with 4$"):
        search(SearchConfig(layers=(4, 8, 3)), address=NO_RAY_HERE)


def test_arrays_of_any_shape_need_no_data_set_name():
    """The default data set's shape does not stand in the way of the caller's own arrays."""
    X = np.random.default_rng(0).standard_normal((12, 4))
    config = SearchConfig(layers=(4, 3, 2), climbers=2, steps=20, rounds=1, time_budget=None)
    result = search(config, X, np.arange(12) % 2, executor="inprocess")
    assert result.rounds_completed == 1 and result.params.shape == (4 * 3 + 3 + 3 * 2 + 2,)


# --- data as it comes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("labels", "classes"),
    [
        ([1, 2, 3, 2], (1, 2, 3)),  # as many published data sets number them
        ([0, 2, 7, 2], (0, 2, 7)),  # gaps
        ([-1, 1, 1, -1], (-1, 1)),
        (["setosa", "versicolor", "virginica", "setosa"], ("setosa", "versicolor", "virginica")),
        (np.array([0, 1, 2**63 + 5, 0], dtype=np.uint64), (0, 1, 2**63 + 5)),
    ],
)
def test_labels_of_any_kind_become_classes_in_sorted_order(labels, classes):
    dataset = from_arrays(X_GOOD, labels)
    assert dataset.classes == classes
    assert [dataset.classes[index] for index in dataset.labels] == list(np.asarray(labels).tolist())


def test_a_csv_with_a_byte_order_mark_and_no_header_keeps_its_first_row(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("0,1,0\r\n1,0.5,1\r\n2,-1,2\r\n3,3,1\r\n".encode("utf-8-sig"))
    dataset = read_dataset_file(path)
    assert len(dataset.X) == 4 and dataset.labels.tolist() == [0, 1, 2, 1]


def test_a_pandas_row_index_is_dropped_with_a_note_and_never_learnt_from(tmp_path):
    path = _csv(tmp_path, ",sepal,petal,species\n0,5.1,1.4,setosa\n1,7.0,4.7,versicolor\n2,6.3,6.0,virginica\n")
    dataset = read_dataset_file(path)
    assert dataset.X.tolist() == [[5.1, 1.4], [7.0, 4.7], [6.3, 6.0]]
    assert dataset.feature_names == ("sepal", "petal")
    assert dataset.classes == ("setosa", "versicolor", "virginica")
    assert any("row index" in note for note in dataset.notes)


def test_an_unnamed_first_column_that_is_not_a_row_index_is_a_feature(tmp_path):
    for first in (("5", "5"), ("0.5", "1.5"), ("-1", "2")):  # repeated, fractional, negative: not an index
        path = _csv(tmp_path, f",b,label\n{first[0]},1,0\n{first[1]},2,1\n")
        assert read_dataset_file(path).X[:, 1].tolist() == [1, 2] and read_dataset_file(path).X.shape == (2, 2)


def test_the_index_of_a_shuffled_data_frame_is_dropped_and_never_learnt_from(tmp_path):
    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame({"x": np.arange(30) / 10, "label": np.arange(30) % 3}).sample(frac=1, random_state=0)
    path = tmp_path / "shuffled.csv"
    frame.to_csv(path)  # the index goes first, unnamed, in shuffled order: 27, 15, ...
    dataset = read_dataset_file(path)
    assert dataset.feature_names == ("x",) and dataset.X[:, 0].tolist() == frame["x"].tolist()
    assert any("dropped the first column, an unnamed row index" in note for note in dataset.notes)


def test_a_column_like_a_row_number_or_an_id_is_named_in_a_note(tmp_path):
    rows = "".join(f"{row + 1},{row % 7 / 10},{row % 3}\n" for row in range(12))
    dataset = read_dataset_file(_csv(tmp_path, "Id,x,label\n" + rows))  # as Kaggle's iris.csv has one
    assert dataset.X.shape == (12, 2)  # it cannot be told from the data alone: learnt from, and said
    assert [note for note in dataset.notes if "column Id holds a different whole number in every row" in note]
    plain = read_dataset_file(_csv(tmp_path, "a,x,label\n" + rows.replace("1,", "1.5,", 1), name="plain.csv"))
    assert not plain.notes


@pytest.mark.parametrize(("separator", "word"), [(";", "semicolon"), ("\t", "tab")])
def test_a_semicolon_or_tab_separated_file_is_read_with_a_note(tmp_path, separator, word):
    text = "\n".join(separator.join(row) for row in [["a", "b", "label"], ["0.5", "1", "x"], ["1.5", "2", "y"]])
    dataset = read_dataset_file(_csv(tmp_path, text + "\n"))
    assert dataset.X.tolist() == [[0.5, 1], [1.5, 2]] and dataset.classes == ("x", "y")
    assert any(f"read as {word}-separated" in note for note in dataset.notes)


def test_decimal_commas_are_named_as_such(tmp_path):
    path = _csv(tmp_path, "a;b;label\n0,5;1;x\n1,5;2;y\n")
    with pytest.raises(ConfigError, match=r"line 2, column a has '0,5', not a number \(decimal commas are not read"):
        read_dataset_file(path)


@pytest.mark.parametrize("missing", ["NA", "NaN", "nan", "null", "N/A", "None"])
def test_a_missing_label_is_refused_never_made_a_class(tmp_path, missing):
    path = _csv(tmp_path, f"a,label\n0,cat\n1,{missing}\n2,dog\n")
    with pytest.raises(
        ConfigError, match=rf"line 3 has no label \(column label holds '{re.escape(missing)}', a missing"
    ):
        read_dataset_file(path)


def test_a_label_in_the_first_column_gets_a_hint_of_label_column(tmp_path):
    with pytest.raises(ConfigError, match=r"column species has 'setosa', not a number; if it is the label, give "
                       r"--label-column species$"):  # fmt: skip
        read_dataset_file(_csv(tmp_path, "species,sepal,petal\nsetosa,5.1,1.4\nvirginica,6.3,6.0\n"))
    with pytest.raises(ConfigError, match=r"labels must be whole numbers or text \(the label is the last column; "
                       r"give --label-column if it is another\); to predict numbers, "
                       r"give --task regression$"):  # fmt: skip
        read_dataset_file(_csv(tmp_path, "kind,sepal,petal\n1,5.1,1.4\n2,6.3,6.5\n", name="first.csv"))


def _quantity_file(tmp_path, rows=200):
    generator = np.random.default_rng(0)
    prices = np.round(generator.normal(300, 60, rows))  # whole numbers, as a rounded price
    sizes = prices / 100 + generator.normal(0, 0.1, rows)
    lines = [f"{size:.3f},{price:.0f}" for size, price in zip(sizes, prices, strict=True)]
    return _csv(tmp_path, "size,price\n" + "\n".join(lines) + "\n", name="prices.csv")


def test_a_label_column_that_looks_like_a_quantity_is_refused_with_a_hint(tmp_path):
    path = _quantity_file(tmp_path)
    classes = len(np.unique(np.loadtxt(path, delimiter=",", skiprows=1)[:, 1]))
    with pytest.raises(ConfigError) as caught:
        load_dataset(SearchConfig(dataset=str(path)))
    message = str(caught.value)
    assert message.startswith(f"{path}: the label column price holds {classes} different numbers")
    assert "looks like a quantity to predict, not classes" in message and "--label-column" in message
    assert message.endswith(f"--layers ending in {classes}") and "to predict it, give --task regression" in message
    # Declared a regression, its label column is the target, as written.
    regression = load_dataset(SearchConfig(dataset=str(path), task="regression"))
    assert (
        regression.regression
        and regression.targets[:, 0].tolist() == np.loadtxt(path, delimiter=",", skiprows=1)[:, 1].tolist()
    )
    # Declared as classes (the layers end in that many), it is read as classes.
    assert load_dataset(SearchConfig(dataset=str(path), layers=(1, 8, classes))).num_classes == classes


@pytest.mark.parametrize(("classes", "rows_each"), [(50, 10), (100, 3), (1000, 2)])
def test_many_classes_of_a_few_rows_each_are_classes(tmp_path, classes, rows_each):
    rows = "".join(f"{row / 7:.3f},{row % classes}\n" for row in range(classes * rows_each))
    assert load_dataset(SearchConfig(dataset=str(_csv(tmp_path, rows)))).num_classes == classes


@pytest.mark.parametrize("column", ["species", "0", "-3"])
def test_the_label_column_by_name_or_index(tmp_path, column):
    path = _csv(tmp_path, "species,sepal,petal\nsetosa,5.1,1.4\nvirginica,6.3,6.0\n")
    dataset = read_dataset_file(path, label_column=column)
    assert dataset.X.tolist() == [[5.1, 1.4], [6.3, 6.0]] and dataset.classes == ("setosa", "virginica")


def test_a_label_column_that_is_not_there_is_named(tmp_path):
    path = _csv(tmp_path, "a,b,label\n0,1,0\n1,1,1\n")
    with pytest.raises(ConfigError, match=r"^label_column: no column named 'kind' in .*data\.csv \(a, b, label\)$"):
        read_dataset_file(path, label_column="kind")
    with pytest.raises(ConfigError, match=r"^label_column: .*data\.csv has 3 columns \(0\.\.2\), got index 5$"):
        read_dataset_file(path, label_column="5")


def test_text_labels_without_a_header_are_read_as_labels(tmp_path):
    dataset = read_dataset_file(_csv(tmp_path, "1,2,cat\n3,4,dog\n5,6,cat\n"))
    assert dataset.X.tolist() == [[1, 2], [3, 4], [5, 6]] and dataset.classes == ("cat", "dog")
