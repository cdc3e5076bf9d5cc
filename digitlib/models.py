"""The networks of the book, as Keras 3 functional models with named outputs.

Every model maps a scaled image batch (see :func:`digitlib.data.scale_images`) to

* ``digit_1`` .. ``digit_5``: softmax over 11 classes (0-9, 10 = blank) for each position,
* ``length``: softmax over 0-5 digits,
* ``boxes`` (house-number models only): 20 linear outputs, the five digit boxes
  ``(x_min, y_min, x_max, y_max)`` in 0..1 of the image; the report's MSE box loss trains blanks
  towards -1 (see :func:`digitlib.data.scale_boxes`), the masked box loss
  (:func:`masked_box_mse`) leaves them free. :func:`compile_model` attaches the book's losses.
"""
from __future__ import annotations

from .backend import import_keras
from .data.labels import DIGIT_OUTPUTS, MAX_DIGITS, NUM_CLASSES

keras = import_keras()
layers = keras.layers

MNIST_SHAPE = (28, 140, 1)
SVHN_SHAPE = (54, 54, 3)


@keras.saving.register_keras_serializable(package="digitlib")
class BatchNormalization(layers.BatchNormalization):
    """``keras.layers.BatchNormalization``, trained with TensorFlow's fused kernel.

    The same layer (same weights, same moving statistics, same inference), but a training step
    normalises with one call of ``tf.compat.v1.nn.fused_batch_norm`` (a single oneDNN kernel on a
    CPU, bfloat16 in and out) instead of Keras' separate mean, variance, scale and shift operations
    upcast to float32. On 2 CPU cores that is most of the difference between the report's network
    training at float32 speed and at bfloat16 speed (``make bench`` measures it). The one numerical
    difference: the moving variance is updated with the batch variance corrected by n / (n - 1)
    (n = batch x height x width, thousands here). Other backends, masks and renormalisation use
    Keras' own code.
    """

    def call(self, inputs, training=None, mask=None):
        fused = (training and self.trainable and mask is None and not self.renorm and self.center and self.scale
                 and keras.backend.backend() == "tensorflow" and len(inputs.shape) == 4
                 and self.axis in (-1, 3))
        if not fused:
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        y, mean, variance = tf.compat.v1.nn.fused_batch_norm(inputs, self.gamma, self.beta, epsilon=self.epsilon,
                                                             data_format="NHWC", is_training=True)
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        return y


def _heads(x, with_boxes: bool):
    """The named outputs, computed in float32 even when the body runs in mixed precision."""
    outputs = {name: layers.Dense(NUM_CLASSES, activation="softmax", dtype="float32", name=name)(x)
               for name in DIGIT_OUTPUTS}
    outputs["length"] = layers.Dense(MAX_DIGITS + 1, activation="softmax", dtype="float32", name="length")(x)
    if with_boxes:
        outputs["boxes"] = layers.Dense(4 * MAX_DIGITS, dtype="float32", name="boxes")(x)
    return outputs


def mnist_cnn(input_shape=MNIST_SHAPE, with_boxes: bool = False) -> keras.Model:
    """The report's best MNIST network (its Fig. 12).

    5x5 conv with 30 filters, 2x2 max pooling, 3x3 conv with 15 filters, 2x2 max pooling, 40%
    dropout, two dense layers of 128, five 11-way softmax heads and a length head. ReLU throughout.
    """
    inputs = keras.Input(input_shape, name="image")
    x = layers.Conv2D(30, 5, activation="relu", name="conv_5x5")(inputs)
    x = layers.MaxPooling2D(2, name="pool_1")(x)
    x = layers.Conv2D(15, 3, activation="relu", name="conv_3x3")(x)
    x = layers.MaxPooling2D(2, name="pool_2")(x)
    x = layers.Dropout(0.4, name="dropout")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(128, activation="relu", name="dense_1")(x)
    x = layers.Dense(128, activation="relu", name="dense_2")(x)
    return keras.Model(inputs, _heads(x, with_boxes), name="mnist_cnn")


def _inception_module(x, filters: int = 64, name: str = "inception"):
    """The report's Inception module (its Fig. 13): three branches side by side, ``filters``
    channels each, concatenated: 1x1 then 3x3; 1x1 then 5x5; 3x3 max pooling then 1x1.
    (GoogLeNet's module has a fourth branch, a plain 1x1 convolution; the report's has not.)"""
    b = layers.Conv2D(filters, 1, padding="same", activation="relu", name=f"{name}_3x3_1x1")(x)
    b = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"{name}_3x3")(b)
    c = layers.Conv2D(filters, 1, padding="same", activation="relu", name=f"{name}_5x5_1x1")(x)
    c = layers.Conv2D(filters, 5, padding="same", activation="relu", name=f"{name}_5x5")(c)
    d = layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
    d = layers.Conv2D(filters, 1, padding="same", activation="relu", name=f"{name}_pool_1x1")(d)
    return layers.Concatenate(name=f"{name}_concat")([b, c, d])


def inception_cnn(input_shape=MNIST_SHAPE, deeper: bool = False, with_boxes: bool = False,
                  filters: int = 64, pool_before_dense: int = 4) -> keras.Model:
    """The report's Inception experiment (its Fig. 13), and with ``deeper=True`` its larger variant.

    One Inception module (:func:`_inception_module`: three branches of ``filters`` channels,
    192 in all), 30% dropout, a dense layer of 128 and the heads. The report gives no layers for
    its deeper variant; this book's choice puts a 5x5 convolution (32) + 2x2 pooling before the
    module and a second dense layer of 128 after it.

    One change from the figure, to fit a laptop: the module's full-resolution channels are
    max-pooled by ``pool_before_dense`` (4x4) before the dense layer; without it that layer alone
    would have 96 million weights (28 x 140 x 192 x 128). Even so it holds almost all of them
    (7 x 35 x 192 x 128 = 6.0 million).
    """
    inputs = keras.Input(input_shape, name="image")
    x = inputs
    if deeper:
        x = layers.Conv2D(32, 5, padding="same", activation="relu", name="conv_5x5")(x)
        x = layers.MaxPooling2D(2, name="pool_0")(x)
    x = _inception_module(x, filters)
    if pool_before_dense > 1:
        x = layers.MaxPooling2D(pool_before_dense // (2 if deeper else 1), name="pool_1")(x)
    x = layers.Dropout(0.3, name="dropout")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(128, activation="relu", name="dense_1")(x)
    if deeper:
        x = layers.Dense(128, activation="relu", name="dense_2")(x)
    return keras.Model(inputs, _heads(x, with_boxes), name="inception_deeper" if deeper else "inception_cnn")


def svhn_localizer(input_shape=SVHN_SHAPE) -> keras.Model:
    """The report's house-number network with its box head (its Fig. 14).

    9x9 conv (32), 2x2 max pooling + batch norm, 5x5 conv (32), pooling + batch norm, 40% dropout,
    3x3 conv (64) + batch norm, dense 256, dense 128, 40% dropout, six softmax heads and a
    20-output box regression head. With ``valid`` padding on 54x54 inputs the last feature map is
    7x7x64, which gives the report's "less than 900,000 parameters" (898,865).
    """
    inputs = keras.Input(input_shape, name="image")
    x = layers.Conv2D(32, 9, activation="relu", name="conv_9x9")(inputs)
    x = layers.MaxPooling2D(2, name="pool_1")(x)
    x = BatchNormalization(name="bn_1")(x)
    x = layers.Conv2D(32, 5, activation="relu", name="conv_5x5")(x)
    x = layers.MaxPooling2D(2, name="pool_2")(x)
    x = BatchNormalization(name="bn_2")(x)
    x = layers.Dropout(0.4, name="dropout_1")(x)
    x = layers.Conv2D(64, 3, activation="relu", name="conv_3x3")(x)
    x = BatchNormalization(name="bn_3")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(256, activation="relu", name="dense_1")(x)
    x = layers.Dense(128, activation="relu", name="dense_2")(x)
    x = layers.Dropout(0.4, name="dropout_2")(x)
    return keras.Model(inputs, _heads(x, with_boxes=True), name="svhn_localizer")


def _conv_bn_relu(x, filters: int, kernel: int, name: str, strides: int = 1):
    x = layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = BatchNormalization(name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


def _conv_block(x, filters: int, name: str, pool: bool = True):
    for j in (1, 2):
        x = _conv_bn_relu(x, filters, 3, f"{name}_{j}")
    return layers.MaxPooling2D(2, name=f"{name}_pool")(x) if pool else x


def strong_cnn(input_shape=SVHN_SHAPE, with_boxes: bool = True, dropout: float = 0.3) -> keras.Model:
    """The "beyond the report" network: under a million parameters (741,133), trainable on a CPU.

    A strided 5x5 convolution (32 filters) halves the 54x54 crop at once (to 27x27: no batch norm or
    pooling at full resolution, where they cost the most time), then two blocks of two 3x3
    convolutions with batch normalisation (48, 96 filters); only the first ends in max pooling, so
    the last map keeps a fine grid (13x13) that says *where* things are. A 1x1 convolution squeezes
    it to 12 channels, then dense 192 with dropout feeds the classification heads. The box head has
    its own 1x1 squeeze (16 channels) and dense layer (64), so reading and locating do not compete
    for the same units. About 0.29 GFLOP per training image, 1.8x the report's network.
    """
    inputs = keras.Input(input_shape, name="image")
    x = _conv_bn_relu(inputs, 32, 5, "stem", strides=2)
    x = _conv_block(x, 48, "block1", pool=True)
    x = _conv_block(x, 96, "block2", pool=False)
    grid = x
    x = layers.Conv2D(12, 1, activation="relu", name="squeeze")(grid)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    x = layers.Dense(192, activation="relu", name="dense")(x)
    outputs = _heads(x, with_boxes=False)
    if with_boxes:  # the box head reads the same grid through its own 1x1 convolution
        b = layers.Conv2D(16, 1, activation="relu", name="box_squeeze")(grid)
        b = layers.Flatten(name="box_flatten")(b)
        b = layers.Dense(64, activation="relu", name="box_dense")(b)
        outputs["boxes"] = layers.Dense(4 * MAX_DIGITS, name="boxes")(b)
    return keras.Model(inputs, outputs, name="strong_cnn")


def mnist_strong_cnn(input_shape=MNIST_SHAPE, with_boxes: bool = False, dropout: float = 0.3) -> keras.Model:
    """The stronger network for MNIST sequences: one shared reader for the five digit slots
    (507,985 parameters), built to train on the full 40,000 sequences on a CPU in minutes.

    Body: a strided 5x5 convolution (32) halves the 28x140 image at once (no batch norm or pooling
    at full resolution, where they cost the most time), two 3x3 convolutions (48) at 14x70,
    pooling, a 3x3 convolution (128) at 7x35, a 1x1 squeeze to 32 channels; batch normalisation
    after every convolution but the squeeze. Output ``(7, 35, 32)``: five 7x7 cells, one per
    28-pixel slot.

    Heads: MNIST sequences put digit ``i`` in slot ``i`` (pixels ``28 i .. 28 i + 27``), so
    instead of one dense layer that must learn each position separately, ``slot_dense`` (a 7x7
    convolution with stride 7, i.e. the same dense layer of 256 units applied to each slot's
    cell, output ``(1, 5, 256)``) and ``slot_digit`` (the same 11-way softmax for every slot,
    output ``(5, 11)``) read every slot with the same weights; ``digit_i`` is row ``i - 1`` of
    ``slot_digit``. Every training digit, wherever it sits, trains the one reader. The ``length``
    head sees all five slots' features. The slots are a property of these sequences: house numbers
    (chapter 6) have no fixed slots, so :func:`strong_cnn` keeps per-position dense heads.

    ``with_boxes`` must be False: MNIST sequences have no boxes.
    """
    if with_boxes:
        raise ValueError("mnist_strong_cnn reads MNIST sequences, which have no boxes; use strong_cnn")
    inputs = keras.Input(input_shape, name="image")
    x = _conv_bn_relu(inputs, 32, 5, "stem", strides=2)
    x = _conv_bn_relu(x, 48, 3, "block1_1")
    x = _conv_bn_relu(x, 48, 3, "block1_2")
    x = layers.MaxPooling2D(2, name="block1_pool")(x)
    x = _conv_bn_relu(x, 128, 3, "block2")
    x = layers.Conv2D(32, 1, activation="relu", name="squeeze")(x)
    cell = (x.shape[1], x.shape[2] // MAX_DIGITS)  # (7, 7): one slot
    x = layers.Conv2D(256, cell, strides=cell, activation="relu", name="slot_dense")(x)
    slots = layers.Reshape((MAX_DIGITS, 256), name="slots")(x)
    slots = layers.Dropout(dropout, name="dropout")(slots)
    probs = layers.Dense(NUM_CLASSES, activation="softmax", dtype="float32", name="slot_digit")(slots)
    outputs = {
        name: layers.Flatten(dtype="float32", name=name)(
            layers.Cropping1D((i, MAX_DIGITS - 1 - i), name=f"slot_{i + 1}")(probs))
        for i, name in enumerate(DIGIT_OUTPUTS)
    }
    everything = layers.Flatten(name="flatten")(slots)
    outputs["length"] = layers.Dense(MAX_DIGITS + 1, activation="softmax", dtype="float32", name="length")(everything)
    return keras.Model(inputs, outputs, name="mnist_strong_cnn")


#: builders by name, for experiment configurations
MODELS = {
    "mnist_cnn": mnist_cnn,
    "inception_cnn": inception_cnn,
    "inception_deeper": lambda input_shape=MNIST_SHAPE, **kw: inception_cnn(input_shape, deeper=True, **kw),
    "svhn_localizer": svhn_localizer,
    "strong_cnn": strong_cnn,
    "mnist_strong_cnn": mnist_strong_cnn,
}


def build_model(name: str, input_shape, dtype_policy: str | None = None, **kwargs) -> keras.Model:
    """Build a model of :data:`MODELS` by name for inputs of ``input_shape``.

    ``dtype_policy``: a Keras dtype policy for the body, e.g. ``"mixed_bfloat16"`` (the heads
    always compute in float32); None keeps the global policy. The global policy is not changed.
    """
    try:
        builder = MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(MODELS)}") from None
    default_policy = keras.config.dtype_policy()
    if dtype_policy is not None:
        keras.config.set_dtype_policy(dtype_policy)  # layers keep the policy they are built with
    try:
        return builder(input_shape=tuple(input_shape), **kwargs)
    finally:
        keras.config.set_dtype_policy(default_policy)


# ------------------------------------------------------------------------------------------- losses

@keras.saving.register_keras_serializable(package="digitlib")
def masked_box_mse(y_true, y_pred):
    """Box loss over the real digits only: the squared errors of blank positions (target -1, see
    :func:`~digitlib.data.scale_boxes`) count as zero; the sum is divided by all 20 outputs, as in
    the MSE. The box head then spends its capacity on *where* digits are, and leaves *whether* a
    position holds a digit to the digit heads. Shapes ``(batch, 20)``; returns ``(batch,)``."""
    ops = keras.ops
    real = ops.cast(y_true > -0.5, y_pred.dtype)
    return ops.mean(real * ops.square(y_true - y_pred), axis=-1)


#: the box losses an experiment can choose: the report's MSE, or the MSE over real digits only
BOX_LOSSES = {"mse": "mse", "masked_mse": masked_box_mse}


@keras.saving.register_keras_serializable(package="digitlib")
class ScaledLoss(keras.losses.Loss):
    """``loss(y_true, y_pred)`` times ``scale``, a float32 ``keras.Variable`` that may change between
    training steps (:class:`digitlib.training.BoxWeightWarmup` raises it epoch by epoch). ``loss``
    is a name or function of :data:`BOX_LOSSES`; shapes as ``loss``'s, ``(batch, 20)`` ->
    ``(batch,)``. A saved model loads with a fresh scale of 1."""

    def __init__(self, loss="mse", scale=None, name="scaled_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.loss = loss
        self.scale = scale if scale is not None else keras.Variable(1.0, trainable=False, dtype="float32")
        self._fn = keras.losses.get(BOX_LOSSES.get(loss, loss)) if isinstance(loss, str) else loss

    def call(self, y_true, y_pred):
        return self.scale * self._fn(y_true, y_pred)

    def get_config(self):
        return {**super().get_config(), "loss": self.loss if isinstance(self.loss, str) else
                keras.saving.serialize_keras_object(self.loss)}


#: training steps per call into TensorFlow's compiled graph: fewer returns to Python per batch
STEPS_PER_EXECUTION = 8


def compile_model(model: keras.Model, optimizer, box_loss_weight=1.0, box_loss: str = "mse",
                  steps_per_execution: int = STEPS_PER_EXECUTION, box_loss_scale=None) -> None:
    """Compile with the book's losses: cross-entropy for every digit head and the length head,
    ``box_loss`` (:data:`BOX_LOSSES`) for the box head weighted by ``box_loss_weight`` (the
    report's Fig. 15 study; every other loss has weight 1; a float, or a ``keras.Variable`` so
    that one compiled graph trains every weight); accuracy per digit head and, for
    boxes, the MSE over all 20 outputs (``boxes_mse``; a model trained with ``masked_mse`` is
    not trained to put blanks at -1, so its ``boxes_mse`` also counts errors its loss ignores).

    ``steps_per_execution``: batches per call of the compiled training step. The same steps and
    the same numbers as one batch per call, with less Python between batches (which shows on
    small networks and small batches; ``make bench`` measures it).

    ``box_loss_scale``: a ``keras.Variable`` that multiplies the box loss on top of
    ``box_loss_weight`` (:class:`ScaledLoss`), for a weight that changes during training
    (:class:`digitlib.training.BoxWeightWarmup`); None: the weight is fixed."""
    if box_loss not in BOX_LOSSES:
        raise ValueError(f"unknown box_loss {box_loss!r}; choose one of {sorted(BOX_LOSSES)}")
    names = model.output_names
    box = BOX_LOSSES[box_loss] if box_loss_scale is None else ScaledLoss(box_loss, box_loss_scale, name="box_loss")
    model.compile(
        optimizer=optimizer,
        loss={n: box if n == "boxes" else "sparse_categorical_crossentropy" for n in names},
        loss_weights={n: box_loss_weight if n == "boxes" else 1.0 for n in names},
        metrics={n: ["mse"] if n == "boxes" else ["accuracy"] for n in names},
        steps_per_execution=steps_per_execution,
    )


def describe(model: keras.Model, to_file: str | None = None):
    """Draw the architecture with ``keras.utils.plot_model`` when graphviz is installed; otherwise
    print the text summary. Returns the image path, or None when it printed the summary."""
    if to_file:
        try:
            keras.utils.plot_model(model, to_file=to_file, show_shapes=True, show_layer_names=True)
            return to_file
        except (ImportError, OSError):
            pass
    model.summary(line_length=100)
    return None
