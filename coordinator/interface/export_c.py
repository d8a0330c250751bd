"""A finished run's network as one C99 header: `python -m coordinator export RUN --c model.h [--name NAME]`.

The header is self-contained (`<stdint.h>`, and `<math.h>` for tanh units only): the network's
weights as `static const` arrays, its feature scaling (and a regressor's target scaling), and
`static inline` functions, every name starting with NAME (the file's stem, or `--name`), so that two
models live in one program. `NAME_INPUTS` and `NAME_OUTPUTS` are its sizes; a classifier's
`int NAME_predict(const float *x)` returns the class index (the order of `predict`'s labels, listed
in the file), a regressor's `void NAME_predict(const float *x, float *y)` writes its outputs in the
targets' units, a policy's (discrete actions) returns the action. No allocation: a prediction's
state lives on the stack (a few arrays of the layers' widths).

How the weights are stored (the size of their grid) and computed:

- float: float32 arrays (the run's float64 weights rounded: outputs within about 1e-7 of predict's);
- int8: the int8 levels, and the layer's power-of-two scale applied once per unit;
- ternary: two bit planes a unit (its +1 inputs, its -1 inputs), 2 bits a weight; binary: one plane
  (its +1 inputs), 1 bit a weight; each unit's row padded to whole 32-bit words.

Sums of real inputs (the scaled features; a ReLU or tanh layer's outputs) are taken in
`NAME_REAL` (double unless the including file defines it), a grid layer's by additions and
subtractions (ternary, binary) or one multiplication a weight (int8, float). With sign or step
units every hidden output is a bit, and a grid layer fed bits needs no multiplication and no
floating point: its sums are integers (ternary: popcounts of its planes and the bits; binary: XNOR
and popcount for sign units), and a hidden unit is on where its sum reaches an integer threshold
that the export computes from the unit's bias in the float64 arithmetic predict uses. The output
layer's integer sums take one multiplication by the scale (a power of two) and the bias. So:

- on a grid with sign or step units, every integer sum is exact, as it is in predict; the first
  layer's sums of real features are predict's up to the order of additions (about 1e-16 apart), so
  a class differs only where such a sum lies that close to a unit's switch at -1e-12, or two outputs
  that close to each other. The first layer stays on real inputs: quantising them would change the
  network.
- with ReLU or tanh units, and with float weights, the sums are predict's to rounding, so the class is
  predict's except where two outputs tie within about 1e-15 (double) or 1e-7 (float32 weights).

tanh units need `tanh` (from libm, `-lm`); nothing else calls the C library. The function does not
check its input: a NaN feature gives an unspecified class.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cluster.atomic_files import atomic_write_text
from coordinator.config import ConfigError
from coordinator.results.result import SearchResult, load_result
from workers import activations, grid

WORD_BITS = 32
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass(frozen=True)
class CHeader:
    """A generated header: its text, the bytes its arrays hold, the C library functions it calls."""

    name: str
    text: str
    weight_bytes: int  # the weights' arrays (levels, bit planes, float32 weights)
    other_bytes: int  # biases, thresholds, feature and target scaling
    libm: tuple[str, ...]  # () or ("tanh",)


@dataclass
class _Source:
    """The parts of a header as they are written: arrays, helper functions, the bytes counted."""

    name: str
    real: str
    arrays: list[str] = field(default_factory=list)
    helpers: set[str] = field(default_factory=set)
    weight_bytes: int = 0
    other_bytes: int = 0

    def array(self, suffix: str, ctype: str, values, literal, weights: bool, width: int) -> str:
        """Declare `static const ctype NAME_suffix[]` holding values; count its bytes; return its name."""
        values = list(values)
        name = f"{self.name}_{suffix}"
        size = width * len(values)
        if weights:
            self.weight_bytes += size
        else:
            self.other_bytes += size
        items = [literal(value) for value in values]
        lines, line = [], "   "
        for item in items:
            if len(line) + len(item) + 2 > 110:
                lines.append(line)
                line = "   "
            line += f" {item},"
        lines.append(line)
        body = "\n".join(lines)
        self.arrays.append(f"static const {ctype} {name}[{len(values)}] = {{\n{body}\n}};")
        return name


def c_identifier_problem(name: str) -> str | None:
    """Why name cannot start a header's names (None if it can): a C identifier not starting with _.

    Every name of the header is NAME_something, so a keyword is a fine NAME (int_predict); a leading _
    is not: C reserves file-scope names that start with one.
    """
    if not IDENTIFIER.match(name):
        return "is not a C identifier (letters, digits and _, not starting with a digit)"
    if name.startswith("_"):
        return "starts with _ (C reserves such names for itself)"
    return None


def header_name(path: str | Path, name: str | None) -> str:
    """The prefix of a header's names: name, or the file's stem; a ConfigError if it is not a C identifier."""
    if name is not None:
        problem = c_identifier_problem(name)
        if problem:
            raise ConfigError(f"--name: {name!r} {problem}")
        return name
    stem = Path(path).stem
    problem = c_identifier_problem(stem)
    if problem:
        raise ConfigError(f"{Path(path).name}: its stem {stem!r} {problem}; give --name NAME")
    return stem


def _check_exportable(result: SearchResult) -> None:
    """Refuse, in one line, a run whose predictions the header cannot compute."""
    if result.policy is not None:
        policy = result.policy
        if policy.action != "discrete":
            raise ConfigError(
                f"export: the run learnt a policy for {result.config.env} whose actions are "
                f"{policy.action_space or policy.action}, not Discrete; a C header is written for discrete actions only"
            )
        if policy.observation != "box":
            raise ConfigError(
                f"export: the run learnt a policy for {result.config.env} whose observations are states "
                "(one-hot inputs); a C header is written for observations that are numbers"
            )
        return
    if result.objective is not None:
        raise ConfigError(
            f"export: the run minimised {result.objective.name}, a function of the parameters; a C header is "
            "written for classifiers, regressors and policies with discrete actions"
        )
    if result.regression and (result.layout.on_grid or result.layout.activation != "relu"):
        raise ConfigError("export: a regressor's network has float weights and ReLU units")


def _real(value: float) -> str:
    """A float64 as a C literal that reads back as the same double (Python's shortest repr)."""
    value = float(value)
    if not math.isfinite(value):
        raise ConfigError(f"export: the network holds {value}, which a C header cannot")
    text = repr(value)
    return text if any(mark in text for mark in ".en") else text + ".0"


def _float32(value: float) -> str:
    """A float32 as a C float literal that reads back as the same float."""
    single = np.float32(value)
    if not np.isfinite(single):
        raise ConfigError(f"export: the weight {value} overflows float32")
    return np.format_float_scientific(single, unique=True, trim="0") + "f"


def _word(value: int) -> str:
    return f"0x{value:08x}u"


def _c_string(text: str) -> str:
    """text as a C string literal: printable ASCII as it is, the rest (and ?, for trigraphs) escaped in octal."""
    out = []
    for byte in str(text).encode():
        character = chr(byte)
        if character in '"\\?' or not 32 <= byte < 127:
            out.append(f"\\{byte:03o}")
        else:
            out.append(character)
    return '"' + "".join(out) + '"'


def _comment(text: str) -> str:
    """text safe inside a C comment: no comment end, no line splice, printable ASCII."""
    safe = "".join(character if 32 <= ord(character) < 127 else "?" for character in str(text))
    return safe.replace("*/", "* /").replace("\\", "/")


def _planes(levels: np.ndarray, value: int) -> np.ndarray:
    """(units, words) uint32 bit planes: bit k of word w of unit j is set where levels[32 w + k, j] == value."""
    inputs, units = levels.shape
    words = -(-inputs // WORD_BITS)
    bits = np.zeros((units, words * WORD_BITS), dtype=np.uint64)
    bits[:, :inputs] = np.equal(levels.T, value).astype(np.uint64)
    weights = np.left_shift(np.uint64(1), np.arange(WORD_BITS, dtype=np.uint64))
    return (bits.reshape(units, words, WORD_BITS) * weights).sum(axis=2).astype(np.uint64)


def unit_thresholds(biases: np.ndarray, scale: float, largest: int) -> list[int]:
    """Per unit, the least integer sum S whose pre-activation fl(S * scale + bias) is at least -STEP_TOLERANCE.

    S * scale is exact (a power of two times an integer below 2**53), so fl(S * scale + bias) is what
    predict's float64 computes for that sum, and a unit is on in predict exactly where its sum reaches this.
    Kept within [-largest - 1, largest + 1]: a unit always on (or never) whatever its inputs.
    """
    limit = -activations.STEP_TOLERANCE
    result = []
    for bias in np.asarray(biases, dtype=np.float64).reshape(-1):

        def on(total: int, bias: float = float(bias)) -> bool:
            return float(total) * scale + bias >= limit

        guess = min(max(math.ceil((limit - float(bias)) / scale), -largest - 1), largest + 1)
        while guess > -largest - 1 and on(guess - 1):
            guess -= 1
        while guess <= largest and not on(guess):
            guess += 1
        result.append(guess)
    return result


def _integer_type(values: list[int]) -> tuple[str, int]:
    if all(-(2**15) <= value < 2**15 for value in values):
        return "int16_t", 2
    return "int32_t", 4


HELPERS = {
    "popcount": """/* The number of bits set in word: the compiler's builtin where it has one, else shifts and adds. */
static inline int32_t {name}_popcount(uint32_t word)
{{
#if defined(__GNUC__)
    return (int32_t)__builtin_popcountl((unsigned long)word);
#else
    word = word - ((word >> 1) & 0x55555555u);
    word = (word & 0x33333333u) + ((word >> 2) & 0x33333333u);
    word = (word + (word >> 4)) & 0x0f0f0f0fu;
    word = word + (word >> 8);
    word = word + (word >> 16);
    return (int32_t)(word & 0x3fu);
#endif
}}""",
    "lowest": """/* The index of the lowest bit set in word (word != 0). */
static inline int {name}_lowest(uint32_t word)
{{
#if defined(__GNUC__)
    return __builtin_ctzl((unsigned long)word);
#else
    int index = 0;
    if (!(word & 0xffffu)) {{ word >>= 16; index += 16; }}
    if (!(word & 0xffu)) {{ word >>= 8; index += 8; }}
    if (!(word & 0xfu)) {{ word >>= 4; index += 4; }}
    if (!(word & 0x3u)) {{ word >>= 2; index += 2; }}
    if (!(word & 0x1u)) {{ index += 1; }}
    return index;
#endif
}}""",
    "planesum": """/* The sum of input[32 w + k] over the bits k set in words[w], w < count. */
static inline {real} {name}_planesum(const uint32_t *words, int count, const {real} *input)
{{
    {real} total = 0;
    int w;
    for (w = 0; w < count; w++) {{
        uint32_t word = words[w];
        while (word) {{
            total += input[32 * w + {name}_lowest(word)];
            word &= word - 1u;
        }}
    }}
    return total;
}}""",
}


@dataclass(frozen=True)
class _Layer:
    """One dense layer as the header computes it: its numbers, and whether its input and output are bits."""

    index: int
    weights: np.ndarray  # (n_in, n_out) float64
    biases: np.ndarray  # (n_out,) float64
    levels: np.ndarray | None  # (n_in, n_out) int8 on a grid, else None
    scale: float  # the grid's power of two (0.0 for float weights)
    kind: str  # float, int8, ternary, binary
    activation: str  # the hidden units' (relu, tanh, sign, step)
    input_bits: bool  # its inputs are sign (+1 / -1) or step (1 / 0) units, one bit each
    output_bits: bool
    last: bool

    @property
    def n_in(self) -> int:
        return self.weights.shape[0]

    @property
    def n_out(self) -> int:
        return self.weights.shape[1]

    @property
    def words_in(self) -> int:
        """32-bit words of a unit's row of bits (a plane), or of the input bits."""
        return -(-self.n_in // WORD_BITS)

    @property
    def sign(self) -> bool:
        """Whether a bit input stands for +1 / -1 (sign units) rather than 1 / 0 (step units)."""
        return self.activation == "sign"

    def planes(self, value: int) -> list[int]:
        """The words of each unit's plane of the weights at `value`, unit after unit."""
        return _planes(self.levels, value).reshape(-1).tolist()


def c_header(result: SearchResult, name: str, classes=None) -> CHeader:
    """The C99 header of a result's network, its names starting with name; classes: labels listed for the outputs."""
    _check_exportable(result)
    problem = c_identifier_problem(name)
    if problem:
        raise ConfigError(f"--name: {name!r} {problem}")
    layout = result.layout
    labels = None
    if not result.regression and result.policy is None:
        labels = list(result.classes if classes is None else np.asarray(classes).tolist())
        if len(labels) != layout.num_classes:
            raise ConfigError(f"classes: {len(labels)} labels for a network with {layout.num_classes} outputs")
    source = _Source(name, f"{name}_REAL")
    levels = layout.levels(result.params) if layout.on_grid else None
    bits = layout.activation in ("sign", "step")
    count = len(result.layers)
    functions = [
        _layer_code(
            source,
            _Layer(
                index=index,
                weights=np.asarray(weights, dtype=np.float64),
                biases=np.asarray(biases, dtype=np.float64).reshape(-1),
                levels=None if levels is None else levels[index],
                scale=layout.scales[index],
                kind=layout.weights,
                activation=layout.activation,
                input_bits=bits and index > 0,
                output_bits=bits and index < count - 1,
                last=index == count - 1,
            ),
        )
        for index, (weights, biases) in enumerate(result.layers)
    ]
    scaling = _scaling_code(source, result)
    predict = _predict_code(source, result)
    helpers = [HELPERS[helper].format(name=name, real=source.real) for helper in HELPERS if helper in source.helpers]
    libm = ("tanh",) if layout.activation == "tanh" and count > 1 else ()
    parts = [_preamble(result, name, labels, source, libm), *source.arrays, *helpers, scaling, *functions, predict]
    text = "\n\n".join([*parts, f"#endif /* {name}_H */\n"])
    return CHeader(name, text, source.weight_bytes, source.other_bytes, libm)


def _preamble(result: SearchResult, name: str, labels, source: _Source, libm: tuple[str, ...]) -> str:
    """The file's opening comment, include guard, includes and constants."""
    layout = result.layout
    sizes = "-".join(map(str, layout.sizes))
    regression = result.regression
    if regression:
        signature = f"void {name}_predict(const float *x, float *y)"
        returns = f"writes y[0..{name}_OUTPUTS - 1], the predictions in the targets' units"
    elif result.policy is not None:
        signature = f"int {name}_predict(const float *x)"
        first = result.policy.action_start
        returns = f"returns the action ({first} to {first + layout.num_classes - 1})"
    else:
        signature = f"int {name}_predict(const float *x)"
        returns = f"returns the class index, 0 to {name}_OUTPUTS - 1 (the labels below)"
    grid_note = {
        "float": "float32 weights (the run's float64 weights, rounded)",
        "int8": "int8 levels times a power-of-two scale per layer",
        "ternary": "ternary weights (-1, 0, +1 times a power-of-two scale per layer), 2 bits each",
        "binary": "binary weights (-1, +1 times a power-of-two scale per layer), 1 bit each",
    }[layout.weights]
    lines = [
        f"/* {name}.h: a {sizes} network trained by hillclimb, as plain C99 (generated: do not edit).",
        " *",
        f" *   {signature}",
        f" *     x: the {layout.num_inputs} raw features (x[0..{name}_INPUTS - 1]), as predict takes them; {returns}.",
        " *",
        f" * Network: {grid_note}; {layout.activation} hidden units; "
        f"feature scaling {result.scaling.kind} (inside)"
        + (
            f"; target scaling {result.target_scaling.kind} (inside)"
            if regression and result.target_scaling is not None
            else ""
        )
        + ".",
        f" * Weights: {source.weight_bytes} bytes; biases, thresholds and scaling: {source.other_bytes} bytes "
        f"(with {name}_REAL double).",
        " * C library: " + (f"{', '.join(libm)} (math.h; link with -lm)." if libm else "none."),
        f" * Sums of real numbers are taken in {name}_REAL (double unless defined before this file is included):",
        " * with double they are predict's to rounding. No allocation, no state between calls: reentrant.",
        " * The input is not checked: a NaN feature gives an unspecified answer.",
    ]
    if labels is not None:
        shown = ", ".join(f"{index} {_comment(repr(label))}" for index, label in enumerate(labels))
        lines += [" *", f" * Classes: {shown}."]
    if result.data is not None and result.data.feature_names:
        lines += [" *", f" * Features, in order: {_comment(', '.join(result.data.feature_names))}."]
    lines.append(" */")
    head = "\n".join(lines)
    includes = ["#include <stdint.h>"] + (["#include <math.h>"] if libm else [])
    constants = [
        f"#define {name}_INPUTS {layout.num_inputs}",
        f"#define {name}_OUTPUTS {layout.num_classes}",
    ]
    if labels is not None:
        constants.append(f"/* The class labels as text, in index order: const char *labels[] = {name}_LABELS; */")
        constants.append(f"#define {name}_LABELS {{ {', '.join(_c_string(label) for label in labels)} }}")
    real = [f"#ifndef {name}_REAL", f"#define {name}_REAL double", "#endif"]
    if libm:
        real += [f"#ifndef {name}_TANH", f"#define {name}_TANH tanh", "#endif"]
    return "\n".join([head, "", f"#ifndef {name}_H", f"#define {name}_H", "", *includes, "", *constants, "", *real])


def _scaling_code(source: _Source, result: SearchResult) -> str:
    """The function that scales the raw features as the run learnt: (x - offset) / scale in REAL."""
    name, real = source.name, source.real
    features = result.layout.num_inputs
    scaling = result.scaling
    body = [f"static inline void {name}_scale(const float *x, {real} *input)", "{", "    int i;"]
    if scaling.kind == "none":
        body.append(f"    for (i = 0; i < {features}; i++) input[i] = ({real})x[i];")
    elif not any(scaling.offset):  # maxabs (or a shift of 0): x - 0.0 is x, so no offsets are stored
        spread = source.array("spread", real, scaling.scale, _real, False, 8)
        body.append(f"    for (i = 0; i < {features}; i++) input[i] = ({real})x[i] / {spread}[i];")
    else:
        offset = source.array("offset", real, scaling.offset, _real, False, 8)
        spread = source.array("spread", real, scaling.scale, _real, False, 8)
        body.append(f"    for (i = 0; i < {features}; i++) input[i] = (({real})x[i] - {offset}[i]) / {spread}[i];")
    body.append("}")
    return f"/* The features as the network reads them: the run's {scaling.kind} scaling. */\n" + "\n".join(body)


def _layer_code(source: _Source, layer: _Layer) -> str:
    """One dense layer as a C function from its input (REAL values or words of bits) to its output."""
    name, real = source.name, source.real
    in_type = "uint32_t" if layer.input_bits else real
    out_type = "uint32_t" if layer.output_bits else real
    role = "output" if layer.last else f"hidden ({layer.activation})"
    inputs = f"bits ({'+1 / -1' if layer.sign else '1 / 0'})" if layer.input_bits else "real values"
    comment = (
        f"/* Layer {layer.index}: {layer.n_in} -> {layer.n_out}, {layer.kind} weights, {role}; input: {inputs}; "
        f"output: {'bits' if layer.output_bits else 'real values'}. */"
    )
    lines = [f"static inline void {name}_layer_{layer.index}(const {in_type} *input, {out_type} *output)", "{"]
    if layer.input_bits and layer.kind != "float":  # a grid's levels times bits: exact integer sums
        lines += _integer_sums(source, layer)
        if layer.output_bits:
            largest = layer.n_in * grid.LEVELS[layer.kind][0]
            thresholds = unit_thresholds(layer.biases, layer.scale, largest)
            threshold_type, width = _integer_type(thresholds)
            table = source.array(f"thresholds_{layer.index}", threshold_type, thresholds, str, False, width)
            switch = f"sum[j] >= {table}[j]"
        else:
            biases = source.array(f"biases_{layer.index}", real, layer.biases, _real, False, 8)
            value = f"({real})sum[j] * {_real(layer.scale)} + {biases}[j]"
    else:
        lines += _real_sums(source, layer)
        biases = source.array(f"biases_{layer.index}", real, layer.biases, _real, False, 8)
        value = f"sum[j]{'' if layer.kind == 'float' else ' * ' + _real(layer.scale)} + {biases}[j]"
        switch = f"{value} >= {_real(-activations.STEP_TOLERANCE)}"
    if layer.output_bits:  # a unit is on from -STEP_TOLERANCE up, as in predict
        lines += [
            f"    for (j = 0; j < {-(-layer.n_out // WORD_BITS)}; j++) output[j] = 0;",
            f"    for (j = 0; j < {layer.n_out}; j++) {{",
            f"        if ({switch}) output[j >> 5] |= (uint32_t)1 << (j & 31);",
            "    }",
        ]
    elif layer.last:
        lines.append(f"    for (j = 0; j < {layer.n_out}; j++) output[j] = {value};")
    elif layer.activation == "relu":
        lines += [
            f"    for (j = 0; j < {layer.n_out}; j++) {{",
            f"        const {real} value = {value};",
            "        output[j] = value > 0 ? value : 0;",
            "    }",
        ]
    else:
        lines.append(f"    for (j = 0; j < {layer.n_out}; j++) output[j] = {name}_TANH({value});")
    lines.append("}")
    return comment + "\n" + "\n".join(lines)


def _integer_sums(source: _Source, layer: _Layer) -> list[str]:
    """C lines that fill int32_t sum[n_out] with each unit's exact sum of its levels times its input bits."""
    name, n_in, n_out, words = source.name, layer.n_in, layer.n_out, layer.words_in
    lines = [f"    int32_t sum[{n_out}];", "    int i, j;"]
    if layer.kind == "int8":  # input-major, as the run stores them: an input's bit adds (or subtracts) its row
        table = source.array(f"levels_{layer.index}", "int8_t", layer.levels.reshape(-1).tolist(), str, True, 1)
        lines += [
            f"    for (j = 0; j < {n_out}; j++) sum[j] = 0;",
            f"    for (i = 0; i < {n_in}; i++) {{",
            f"        const int8_t *row = {table} + {n_out} * i;",
            "        if ((input[i >> 5] >> (i & 31)) & 1u) {",
            f"            for (j = 0; j < {n_out}; j++) sum[j] += row[j];",
        ]
        if layer.sign:
            lines += ["        } else {", f"            for (j = 0; j < {n_out}; j++) sum[j] -= row[j];"]
        return [*lines, "        }", "    }"]
    source.helpers.add("popcount")
    count = f"{name}_popcount"
    if layer.kind == "ternary":  # two planes a unit: its +1 inputs and its -1 inputs
        plus = source.array(f"plus_{layer.index}", "uint32_t", layer.planes(1), _word, True, 4)
        minus = source.array(f"minus_{layer.index}", "uint32_t", layer.planes(-1), _word, True, 4)
        if layer.sign:  # +1 where a weight agrees with its input (+1 and +1, -1 and -1), -1 where not, 0 at zeros
            term = f"2 * {count}((plus[i] & input[i]) | (minus[i] & ~input[i])) - {count}(plus[i] | minus[i])"
        else:  # the +1 weights on lit inputs less the -1 weights on lit inputs
            term = f"{count}(plus[i] & input[i]) - {count}(minus[i] & input[i])"
        return [
            *lines,
            f"    for (j = 0; j < {n_out}; j++) {{",
            f"        const uint32_t *plus = {plus} + {words} * j, *minus = {minus} + {words} * j;",
            "        sum[j] = 0;",
            f"        for (i = 0; i < {words}; i++) sum[j] += {term};",
            "    }",
        ]
    signs = source.array(f"signs_{layer.index}", "uint32_t", layer.planes(1), _word, True, 4)  # binary: its +1 inputs
    if layer.sign:  # XNOR and popcount: +1 where weight and input agree, -1 where not; the padding bits masked off
        tail = n_in - WORD_BITS * (words - 1)
        last = "" if tail == WORD_BITS else f" & (i == {words - 1} ? {_word((1 << tail) - 1)} : 0xffffffffu)"
        return [
            *lines,
            f"    for (j = 0; j < {n_out}; j++) {{",
            f"        const uint32_t *signs = {signs} + {words} * j;",
            "        int32_t agree = 0;",
            f"        for (i = 0; i < {words}; i++) agree += {count}(~(signs[i] ^ input[i]){last});",
            f"        sum[j] = 2 * agree - {n_in};",
            "    }",
        ]
    return [  # 1 / 0 inputs: the +1 weights on lit inputs less the -1 weights on them
        *lines,
        "    int32_t lit = 0;",
        f"    for (i = 0; i < {words}; i++) lit += {count}(input[i]);",
        f"    for (j = 0; j < {n_out}; j++) {{",
        f"        const uint32_t *signs = {signs} + {words} * j;",
        "        int32_t agree = 0;",
        f"        for (i = 0; i < {words}; i++) agree += {count}(signs[i] & input[i]);",
        "        sum[j] = 2 * agree - lit;",
        "    }",
    ]


def _real_sums(source: _Source, layer: _Layer) -> list[str]:
    """C lines that fill REAL sum[n_out] with each unit's sum of its inputs times its weights (levels on a grid)."""
    name, real, n_in, n_out, words = source.name, source.real, layer.n_in, layer.n_out, layer.words_in
    lines = [f"    {real} sum[{n_out}];", "    int j;" if layer.kind == "ternary" else "    int i, j;"]
    if layer.kind in ("float", "int8"):  # input-major, as the run stores them: each input adds its row
        if layer.kind == "float":
            values, ctype, literal, width = layer.weights.reshape(-1).tolist(), "float", _float32, 4
            table = source.array(f"weights_{layer.index}", ctype, values, literal, True, width)
        else:
            ctype = "int8_t"
            table = source.array(f"levels_{layer.index}", ctype, layer.levels.reshape(-1).tolist(), str, True, 1)
        lines += [
            f"    for (j = 0; j < {n_out}; j++) sum[j] = 0;",
            f"    for (i = 0; i < {n_in}; i++) {{",
            f"        const {ctype} *row = {table} + {n_out} * i;",
        ]
        if not layer.input_bits:
            lines += [
                f"        const {real} value = input[i];",
                f"        for (j = 0; j < {n_out}; j++) sum[j] += value * row[j];",
            ]
        else:  # float weights on bits: add (or subtract) the row
            lines += [
                "        if ((input[i >> 5] >> (i & 31)) & 1u) {",
                f"            for (j = 0; j < {n_out}; j++) sum[j] += row[j];",
            ]
            if layer.sign:
                lines += ["        } else {", f"            for (j = 0; j < {n_out}; j++) sum[j] -= row[j];"]
            lines.append("        }")
        return [*lines, "    }"]
    # ternary or binary weights on real values: additions and subtractions of the inputs a unit's planes select
    source.helpers |= {"lowest", "planesum"}
    planesum = f"{name}_planesum"
    if layer.kind == "ternary":
        plus = source.array(f"plus_{layer.index}", "uint32_t", layer.planes(1), _word, True, 4)
        minus = source.array(f"minus_{layer.index}", "uint32_t", layer.planes(-1), _word, True, 4)
        return [
            *lines,
            f"    for (j = 0; j < {n_out}; j++) {{",
            f"        sum[j] = {planesum}({plus} + {words} * j, {words}, input) "
            f"- {planesum}({minus} + {words} * j, {words}, input);",
            "    }",
        ]
    # binary: the inputs under +1 less those under -1 = twice the sum under +1 less the sum of every input
    signs = source.array(f"signs_{layer.index}", "uint32_t", layer.planes(1), _word, True, 4)
    return [
        *lines,
        f"    {real} total = 0;",
        f"    for (i = 0; i < {n_in}; i++) total += input[i];",
        f"    for (j = 0; j < {n_out}; j++) {{",
        f"        const {real} positive = {planesum}({signs} + {words} * j, {words}, input);",
        "        sum[j] = (positive + positive) - total;",
        "    }",
    ]


def _predict_code(source: _Source, result: SearchResult) -> str:
    """NAME_predict: scale the features, run the layers, then the arg-max (a classifier's, a policy's) or the
    targets' scaling undone (a regressor's)."""
    name, real = source.name, source.real
    layout = result.layout
    sizes = layout.sizes
    bits = layout.activation in ("sign", "step")
    declarations = [f"    {real} input[{sizes[0]}];"]
    for index, width in enumerate(sizes[1:-1]):
        if bits:
            declarations.append(f"    uint32_t hidden_{index}[{-(-width // WORD_BITS)}];")
        else:
            declarations.append(f"    {real} hidden_{index}[{width}];")
    declarations.append(f"    {real} output[{sizes[-1]}];")
    calls = [f"    {name}_scale(x, input);"]
    previous = "input"
    for index in range(len(sizes) - 1):
        target = "output" if index == len(sizes) - 2 else f"hidden_{index}"
        calls.append(f"    {name}_layer_{index}({previous}, {target});")
        previous = target
    if result.regression:
        target_scaling = result.target_scaling
        lines = [
            f"static inline void {name}_predict(const float *x, float *y)",
            "{",
            *declarations,
            "    int t;",
            *calls,
        ]
        if target_scaling is None or target_scaling.kind == "none":
            lines.append(f"    for (t = 0; t < {sizes[-1]}; t++) y[t] = (float)output[t];")
        else:
            spread = source.array("target_spread", real, target_scaling.scale, _real, False, 8)
            offset = source.array("target_offset", real, target_scaling.offset, _real, False, 8)
            unscaled = f"output[t] * {spread}[t] + {offset}[t]"
            lines.append(f"    for (t = 0; t < {sizes[-1]}; t++) y[t] = (float)({unscaled});")
        lines.append("}")
        comment = "/* The predictions y (NAME_OUTPUTS numbers, in the targets' units) for the raw features x. */"
        return comment.replace("NAME", name) + "\n" + "\n".join(lines)
    start = result.policy.action_start if result.policy is not None else 0
    lines = [
        f"static inline int {name}_predict(const float *x)",
        "{",
        *declarations,
        "    int best = 0, j;",
        *calls,
        "    /* the first of equal largest outputs, as predict's arg-max picks it */",
        f"    for (j = 1; j < {sizes[-1]}; j++) if (output[j] > output[best]) best = j;",
        f"    return best{f' + {start}' if start else ''};",
        "}",
    ]
    what = "the action" if result.policy is not None else "the class index (0 to NAME_OUTPUTS - 1)"
    return f"/* {what.replace('NAME', name)} for the raw features x. */\n" + "\n".join(lines)


def export_c(result: SearchResult, path: str | Path, name: str | None = None, classes=None) -> Path:
    """Write the result's network as a C99 header, atomically; a ConfigError in one line names what is wrong."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path}: is a directory; --c takes a file name such as model.h")
    header = c_header(result, header_name(path, name), classes)
    try:
        atomic_write_text(path, header.text)
    except OSError as error:
        blocking = next((parent for parent in path.parents if parent.exists() and not parent.is_dir()), None)
        reason = f"{blocking} is a file, not a directory" if blocking else error.strerror or error
        raise ConfigError(f"{path}: cannot write ({reason})") from None
    return path


def export_c_run(run_dir: str | Path, path: str | Path, name: str | None = None) -> Path:
    """Write a finished run's network (from its run directory) as a C99 header."""
    header_name(path, name)  # a bad name is told before the run is read
    return export_c(load_result(run_dir), path, name)
