"""Recipe files: a typed schema, YAML loading, `--set` overrides and one-line errors.

A recipe (`configs/<name>.yaml`) is framework-neutral: the same file is read by `jaxgan` and by
`torch_ref`. Every key is declared below; an unknown key, a wrong type or an impossible value
is refused with one line naming the file, the dotted key (and the closest valid key) and what
is allowed; a key given twice, with both line numbers.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field, Strict

from jaxgan.errors import JaxganError

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"


class _Schema(BaseModel):
    # NaN and infinity are never a meaningful learning rate, slope or rate.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


# A whole number written as one: not true/false, not text, not 2.0.
Int = Annotated[int, Strict()]
# Text that names something (a file, a folder, a dataset): never empty.
Name = Annotated[str, Field(min_length=1)]
# A layer width or a count of images/steps: large enough for any run, small enough to be no typo.
Width = Annotated[Int, Field(gt=0, le=65536)]


class DataConfig(_Schema):
    """Where the images come from and how they become tensors."""

    dataset: Name = Field(description="Dataset name, e.g. fashion_mnist, mnist, cifar10, celeba.")
    format: Literal["idx", "csv", "cifar10", "image_folder", "hdf5", "tfds"]
    root: Optional[Name] = Field(None, description="Directory or file; searched before $JAXGAN_DATA.")
    split: Literal["train", "test"] = "train"
    # 'minus_one_one' is ToTensor then Normalize(0.5, 0.5); 'zero_one' is ToTensor alone.
    scale: Literal["zero_one", "minus_one_one"] = "minus_one_one"
    image_size: Optional[Int] = Field(None, gt=0, le=4096, description="Resize + center crop to this size.")
    channels: Int = Field(1, ge=1, le=4)
    label_column: Literal["first", "last"] = "first"
    limit: Optional[Int] = Field(None, gt=0, description="Use only the first N images.")
    shuffle: bool = Field(True, description="Reshuffle every epoch (False: file order).")
    on_corrupt: Literal["stop", "skip"] = "stop"
    tfds_name: Optional[Name] = None
    hdf5_group: Name = "img_align_celeba"
    cache_dir: Optional[Name] = None
    # Where the training images live (jaxgan.data.on_device). 'auto': on the device(s) when the
    # uint8 dataset fits a quarter of one device's memory (on the CPU backend, a quarter of the
    # physical RAM), else streamed; 'always': on the device, or a one-line error; 'never': each
    # chunk's batches gathered on the host and transferred. Batches are the same either way.
    on_device: Literal["auto", "always", "never"] = "auto"


class NetConfig(_Schema):
    """One network (generator or discriminator)."""

    hidden: list[Width] = Field(default_factory=list, description="Hidden widths of an MLP.")
    activation: Literal["relu", "leaky_relu", "sigmoid"] = "relu"
    negative_slope: float = Field(0.01, ge=0.0)
    norm: Literal["none", "layernorm", "batchnorm"] = "none"
    output: Literal["tanh", "sigmoid", "relu", "none"] = "none"
    dropout: float = Field(0.0, ge=0.0, lt=1.0)
    maxout_pieces: Optional[Int] = Field(None, gt=0, le=64)
    width: Optional[Width] = Field(None, description="ngf / ndf of a DCGAN.")


class ModelConfig(_Schema):
    arch: Literal["mlp", "maxout", "dcgan"]
    z_dim: Width
    generator: NetConfig
    discriminator: NetConfig
    # The prior of z: 'normal' is torch.randn (every seed but one); 'uniform' is torch.rand,
    # the book's first, mode-collapsing attempt (seed 001, myfgan_mnist_first).
    noise: Literal["normal", "uniform"] = "normal"
    # 'torch_default': PyTorch's Linear/Conv init, U(+-1/sqrt(fan_in)) for weights and biases.
    # 'dcgan': the DCGAN tutorial's weights_init, N(0, 0.02) and BatchNorm N(1, 0.02).
    init: Literal["torch_default", "dcgan"] = "torch_default"
    # 'bfloat16' (dcgan): mixed precision. Weights, optimiser states, BatchNorm statistics and
    # losses stay float32; convolutions and activations run in bfloat16 (for GPUs and TPUs;
    # the parity tests hold 'float32', the seeds' arithmetic).
    precision: Literal["float32", "bfloat16"] = "float32"


class LossConfig(_Schema):
    kind: Literal["bce", "mse"] = "bce"
    # 'non_saturating': G minimises BCE(D(G(z)), 1); 'saturating': G maximises BCE(D(G(z)), 0).
    generator: Literal["non_saturating", "saturating"] = "non_saturating"


class OptimizerConfig(_Schema):
    name: Literal["adam", "sgd"] = "adam"
    lr: float = Field(gt=0.0)
    b1: float = Field(0.9, ge=0.0, lt=1.0)
    b2: float = Field(0.999, ge=0.0, lt=1.0)
    eps: float = Field(1e-8, gt=0.0)


class OptimizersConfig(_Schema):
    generator: OptimizerConfig
    discriminator: OptimizerConfig


# How a population's program holds its members (jaxgan.population.resolve_program).
PopulationProgram = Literal["auto", "vmap", "map"]


class TrainConfig(_Schema):
    batch_size: Int = Field(gt=0, le=2**20)
    epochs: Int = Field(gt=0, le=10**6)
    max_steps: Optional[Int] = Field(None, gt=0, le=10**10, description="Stop after this many steps in all.")
    # 'minibatch': the seeds' D-then-G step on a batch (000, 002, 003, 004). 'book': the book's
    # loop (seed 001): per batch (one image in the book) D on real, D on G(fresh z), then G on
    # another fresh z, each an optimiser step of its own.
    scheme: Literal["minibatch", "book"] = "minibatch"
    # 'same': the G step reuses the D step's z (seeds 000, 002, 003); 'fresh': new z (seed 004).
    generator_noise: Literal["same", "fresh"] = "same"
    steps_per_dispatch: Int = Field(100, gt=0, le=10**6, description="Train steps run inside one jit call.")
    log_every: Int = Field(100, gt=0)
    sample_every: Int = Field(600, gt=0)
    checkpoint_every: Int = Field(600, gt=0)
    keep_checkpoints: Int = Field(3, gt=0, le=1000)
    num_samples: Int = Field(64, gt=0, le=4096, description="Images in the fixed-noise grid.")
    # What a NaN or infinite loss or parameter does (checked after every dispatch, and the
    # parameters before every checkpoint, so a diverged state is never saved). 'stop': end
    # with a one-line error naming the step and the quantity; the last good checkpoint is
    # kept. 'rollback': restore the last good checkpoint, fold the rollback count into the
    # RNG key (a new random stream from there) and go on, at most max_rollbacks times per
    # process; each rollback is an event line in metrics.jsonl.
    on_divergence: Literal["stop", "rollback"] = "stop"
    max_rollbacks: Int = Field(3, ge=0, le=1000)
    # Devices to split each batch over; unset = every visible device (see jaxgan.parallel).
    num_devices: Optional[Int] = Field(None, gt=0)
    # Members trained at once in one compiled program, member k from seed + k (jaxgan.population).
    population: Int = Field(1, ge=1, le=4096)
    # How the program holds a population: 'vmap' batches the members into every op (a GPU's
    # way to fill itself); 'map' trains them in turn inside the program, each member's whole
    # chunk before the next (on a CPU the cheaper of the two); 'auto' picks
    # 'map' on a CPU and 'vmap' elsewhere (docs/benchmarks.md has the measurements).
    population_program: PopulationProgram = "auto"


class Config(_Schema):
    """A whole recipe."""

    # Also the default run folder, runs/<name>: one folder name, no path.
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
    # Seeds both frameworks accept: torch.manual_seed and jax.random.PRNGKey.
    seed: Int = Field(0, ge=0, lt=2**32)
    data: DataConfig
    model: ModelConfig
    loss: LossConfig = LossConfig()
    optimizer: OptimizersConfig
    train: TrainConfig
    eval: EvalConfig = Field(default_factory=lambda: EvalConfig())  # defined at the end of this file

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class _UniqueKeyLoader(yaml.SafeLoader):
    """yaml.safe_load that refuses a key given twice in one mapping (plain YAML keeps the last)."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            first_line: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key, line = self.construct_object(key_node, deep=True), key_node.start_mark.line + 1
                if not isinstance(key, (str, int, float, bool, type(None))):
                    continue  # an unhashable key is the base class's to refuse
                if key in first_line:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"key {key!r} is given twice, on lines {first_line[key]} and {line}; keep one",
                        key_node.start_mark)
                first_line[key] = line
        return super().construct_mapping(node, deep)


def load_yaml(text: str) -> Any:
    """Safe YAML (no tags that run code) in which a key given twice is an error."""
    return yaml.load(text, Loader=_UniqueKeyLoader)


def recipe_names() -> list[str]:
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


def load_config(path: str | Path, overrides: tuple[str, ...] | list[str] = ()) -> Config:
    """Reads a recipe file, applies `KEY=VALUE` overrides, and validates the result."""
    path = Path(path)
    if not path.is_file():
        known = ", ".join(recipe_names()) or "none"
        raise JaxganError(f"{path}: no such config file (recipes in {CONFIG_DIR}: {known})")
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as e:
        raise JaxganError(f"{path}: cannot read config file ({e.strerror})") from None
    except UnicodeDecodeError as e:
        raise JaxganError(f"{path}: not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset {e.start})") from None
    try:
        raw = load_yaml(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or (str(e).splitlines() or [type(e).__name__])[0]
        raise JaxganError(f"{path}{where}: malformed YAML: {_one_line(problem)}") from None
    except RecursionError:
        raise JaxganError(f"{path}: malformed YAML: nested too deeply") from None
    if not isinstance(raw, dict):
        raise JaxganError(f"{path}: a recipe must be a YAML mapping of keys, got {type(raw).__name__}")
    set_keys = {}
    for item in overrides:
        key, value = _parse_override(item)
        _set_dotted(raw, key, value, path)
        set_keys[key] = item
    return validate(raw, source=str(path), set_keys=set_keys)


def validate(raw: dict[str, Any], source: str = "<config>", set_keys: dict[str, str] | None = None) -> Config:
    """Validates a plain dict; errors name `source` (or the `--set` that caused them)."""
    try:
        return Config.model_validate(raw)
    except pydantic.ValidationError as e:
        # A misspelt key also makes its correct spelling "missing": report the misspelling.
        errors = sorted(e.errors(), key=lambda err: err["type"] != "extra_forbidden")
        raise JaxganError(_one_line(_describe(errors[0], source, set_keys or {}), limit=600)) from None


def _one_line(text: str, limit: int = 200) -> str:
    """`text` on one line: line breaks (any of YAML's or Unicode's) shown escaped, long text cut."""
    flat = "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in str(text))
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _parse_override(item: str) -> tuple[str, Any]:
    key, sep, text = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise JaxganError(f"--set {item!r}: expected KEY=VALUE, e.g. --set train.max_steps=50")
    try:
        value = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError:
        value = text
    return key, value


def _set_dotted(raw: dict[str, Any], key: str, value: Any, path: Path) -> None:
    node = raw
    parts = key.split(".")
    for i, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            prefix = ".".join(parts[: i + 1])
            raise JaxganError(f"--set {key}: {prefix} in {path} is a value, not a section")
        node = child
    node[parts[-1]] = value


def _fields_at(loc: tuple[Any, ...]) -> list[str]:
    """The valid keys of the schema section that `loc` points into."""
    model: type[BaseModel] = Config
    for part in loc:
        field = model.model_fields.get(str(part))
        if field is None:
            break
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
        else:
            break
    return list(model.model_fields)


def _describe(err: dict[str, Any], source: str, set_keys: dict[str, str]) -> str:
    loc = tuple(err["loc"])
    dotted = ".".join(str(p) for p in loc)
    origin = source
    for key, item in set_keys.items():
        if dotted == key or dotted.startswith(key + ".") or key.startswith(dotted + "."):
            origin = f"{source} (--set {item})"
    if err["type"] == "extra_forbidden":
        allowed = _fields_at(loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = f"; did you mean '{'.'.join([*map(str, loc[:-1]), close[0]])}'?" if close else ""
        return f"{origin}: unknown key '{dotted}'{hint} (allowed here: {', '.join(allowed)})"
    if err["type"] == "missing":
        return f"{origin}: missing required key '{dotted}'"
    got = err.get("input")
    return f"{origin}: key '{dotted}': {err['msg']} (got {got!r})"


def dump_config(config: Config, path: str | Path) -> None:
    """Writes the resolved recipe (defaults filled in) as YAML, all at once. A single run's
    omits train.population and train.population_program, so its folder reads as it did
    before populations existed."""
    from jaxgan.files import atomic_write

    recipe = config.to_dict()
    if recipe["train"]["population"] == 1:
        del recipe["train"]["population"], recipe["train"]["population_program"]
    atomic_write(path, yaml.safe_dump(recipe, sort_keys=False))


class EvalConfig(_Schema):
    """Evaluation (jaxgan/quality): FID, KID and mode coverage of the generator's samples.

    On MNIST and Fashion-MNIST the features are a domain classifier's (train it first:
    `python -m jaxgan.classifier --dataset fashion_mnist`); on RGB data, the FID Inception's
    from pytorch-fid's weights file.
    """

    every: Int = Field(0, ge=0, description="Evaluate during training every N steps (0: never).")
    num_samples: Int = Field(10000, ge=2, le=10**7, description="Generated images per evaluation.")
    metric: Literal["fid", "kid"] = Field("fid", description="What the best checkpoint minimises.")
    features: Literal["auto", "classifier", "inception"] = "auto"  # auto: classifier on (fashion_)mnist
    inception_weights: Optional[Name] = Field(None, description="pytorch-fid's pt_inception-2015-12-05-6726825d.pth.")
    num_real: Optional[Int] = Field(None, ge=2, description="Use only the first N real images as the reference.")
    batch_size: Int = Field(500, gt=0, le=2**20, description="Images per generator/feature call.")


Config.model_rebuild()  # resolves Config.eval's forward reference to EvalConfig


# Image shapes of the seeds' datasets, for converting without reading the data.
DATASET_SHAPES = {"fashion_mnist": (28, 28, 1), "mnist": (28, 28, 1), "cifar10": (32, 32, 3), "celeba": (218, 178, 3)}


def recipe_image_shape(config: Config) -> tuple[int, int, int]:
    """(H, W, C) of the images a recipe trains on: data.image_size if set, else the dataset's."""
    c = config.data.channels
    if config.data.image_size is not None:
        return (config.data.image_size, config.data.image_size, c)
    if config.data.dataset not in DATASET_SHAPES:
        raise JaxganError(
            f"data.dataset '{config.data.dataset}': image size unknown without reading the data; set data.image_size"
        )
    h, w, _ = DATASET_SHAPES[config.data.dataset]
    return (h, w, c)
