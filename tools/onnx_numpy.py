#!/usr/bin/python3
"""A small NumPy evaluator for the ONNX operators of 1-D temporal networks.

Development-time tool only (cphap never needs Python). The installed `onnx`
(1.12) has no reference evaluator and onnxruntime is not available, so this
module evaluates a graph node by node, independently of both PyTorch and
cphap. It is used by

  * tools/make_onnx_fixtures.py: to check that every exported fixture file
    computes what PyTorch computed, and to find the graph tensor that holds
    each interpretable layer's activation;
  * tools/check_onnx_written.py: to evaluate files written by
    cphap::write_onnx().

Only what these networks need is implemented (1-D Conv/pooling on [N, C, L],
element-wise activations, Gemm/MatMul, BatchNormalization, and the small
shape/constant sub-graphs torch.onnx.export emits around Pad); anything else
raises NotImplementedError naming the operator.

    vals = run(model, {"input": x})   # every tensor of the graph, by name
"""

import numpy as np
from onnx import numpy_helper

ONNX_TO_NP = {1: np.float32, 2: np.uint8, 3: np.int8, 5: np.int16, 6: np.int32,
              7: np.int64, 9: np.bool_, 10: np.float16, 11: np.float64}


def attrs(node):
    out = {}
    for a in node.attribute:
        if a.type == a.FLOAT:
            out[a.name] = a.f
        elif a.type == a.INT:
            out[a.name] = a.i
        elif a.type == a.STRING:
            out[a.name] = a.s.decode()
        elif a.type == a.INTS:
            out[a.name] = list(a.ints)
        elif a.type == a.FLOATS:
            out[a.name] = list(a.floats)
        elif a.type == a.TENSOR:
            out[a.name] = numpy_helper.to_array(a.t)
        else:
            raise NotImplementedError("attribute %s of %s" % (a.name, node.op_type))
    return out


def _pad_time(x, left, right, value):
    if left == 0 and right == 0:
        return x
    widths = [(0, 0)] * (x.ndim - 1) + [(left, right)]
    return np.pad(x, widths, mode="constant", constant_values=value)


def _auto_pads(a, L, k, s, d):
    mode = a.get("auto_pad", "NOTSET")
    if mode in ("NOTSET", ""):
        p = a.get("pads", [0, 0])
        return p[0], p[1]
    if mode == "VALID":
        return 0, 0
    out = -(-L // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - L, 0)
    small, big = total // 2, total - total // 2
    return (small, big) if mode == "SAME_UPPER" else (big, small)


def conv(x, w, b, a):
    if w.ndim != 3 or a.get("group", 1) != 1:
        raise NotImplementedError("only 1-D, group-1 Conv")
    k = w.shape[2]
    s = a.get("strides", [1])[0]
    d = a.get("dilations", [1])[0]
    pl, pr = _auto_pads(a, x.shape[2], k, s, d)
    xp = _pad_time(x, pl, pr, 0)
    lout = (xp.shape[2] - (k - 1) * d - 1) // s + 1
    y = np.zeros((x.shape[0], w.shape[0], lout), dtype=x.dtype)
    for j in range(k):
        seg = xp[:, :, j * d: j * d + (lout - 1) * s + 1: s]
        y += np.einsum("oc,ncl->nol", w[:, :, j], seg)
    if b is not None:
        y += b[None, :, None]
    return y


def pool(x, a, kind):
    k = a["kernel_shape"][0]
    s = a.get("strides", [1])[0]
    d = a.get("dilations", [1])[0]
    if a.get("ceil_mode", 0):
        raise NotImplementedError("ceil_mode 1")
    pl, pr = _auto_pads(a, x.shape[2], k, s, d)
    lout = (x.shape[2] + pl + pr - (k - 1) * d - 1) // s + 1
    if kind == "max":
        xp = _pad_time(x, pl, pr, -np.inf)
        segs = [xp[:, :, j * d: j * d + (lout - 1) * s + 1: s] for j in range(k)]
        return np.max(np.stack(segs), axis=0)
    xp = _pad_time(x, pl, pr, 0)
    segs = [xp[:, :, j * d: j * d + (lout - 1) * s + 1: s] for j in range(k)]
    tot = np.sum(np.stack(segs), axis=0)
    if a.get("count_include_pad", 0) or (pl == 0 and pr == 0):
        return tot / k
    ones = _pad_time(np.ones((1, 1, x.shape[2]), dtype=x.dtype), pl, pr, 0)
    cnt = np.sum(np.stack([ones[:, :, j * d: j * d + (lout - 1) * s + 1: s]
                           for j in range(k)]), axis=0)
    return tot / cnt


def _axes(a, ins, ndim):
    axes = a.get("axes")
    if axes is None and len(ins) > 1 and ins[1] is not None:
        axes = list(ins[1])
    if axes is None:
        return None
    return tuple(int(v) % ndim for v in axes)


def softplus(x):
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def eval_node(op, a, ins):
    x = ins[0] if ins else None
    if op in ("Identity", "Dropout"):
        return [x]
    if op == "Constant":
        return [a["value"]]
    if op == "ConstantOfShape":
        v = a.get("value", np.zeros(1, np.float32))
        return [np.full(tuple(int(i) for i in x), v.reshape(-1)[0], dtype=v.dtype)]
    if op == "Shape":
        return [np.array(x.shape, dtype=np.int64)]
    if op == "Cast":
        return [x.astype(ONNX_TO_NP[a["to"]])]
    if op == "Gather":
        return [np.take(x, ins[1], axis=a.get("axis", 0))]
    if op == "Concat":
        return [np.concatenate(ins, axis=a["axis"])]
    if op == "Reshape":
        shape = [int(v) for v in ins[1]]
        shape = [x.shape[i] if v == 0 and not a.get("allowzero", 0) else v
                 for i, v in enumerate(shape)]
        return [x.reshape(shape)]
    if op == "Slice":
        if len(ins) > 1:
            starts, ends = ins[1], ins[2]
            axes = ins[3] if len(ins) > 3 and ins[3] is not None else range(len(starts))
            steps = ins[4] if len(ins) > 4 and ins[4] is not None else [1] * len(starts)
        else:
            starts, ends = a["starts"], a["ends"]
            axes = a.get("axes", range(len(starts)))
            steps = [1] * len(starts)
        sl = [slice(None)] * x.ndim
        for st, en, ax, sp in zip(starts, ends, axes, steps):
            big = np.iinfo(np.int64).max // 2
            en = None if (sp < 0 and en < -big) else int(max(min(en, big), -big))
            sl[int(ax)] = slice(int(st), en, int(sp))
        return [x[tuple(sl)]]
    if op == "Transpose":
        return [np.transpose(x, a.get("perm"))]
    if op == "Squeeze":
        ax = _axes(a, ins, x.ndim)
        return [np.squeeze(x, axis=ax)]
    if op == "Unsqueeze":
        ax = _axes(a, ins, x.ndim + len(a.get("axes", ins[1] if len(ins) > 1 else [])))
        for v in sorted(ax):
            x = np.expand_dims(x, v)
        return [x]
    if op == "Pad":
        if len(ins) > 1:
            pads = [int(v) for v in ins[1]]
            value = ins[2].reshape(-1)[0] if len(ins) > 2 and ins[2] is not None else 0
        else:
            pads, value = a["pads"], a.get("value", 0.0)
        if a.get("mode", "constant") != "constant":
            raise NotImplementedError("Pad mode %s" % a["mode"])
        nd = x.ndim
        widths = [(pads[i], pads[i + nd]) for i in range(nd)]
        if any(p < 0 for w in widths for p in w):
            raise NotImplementedError("negative pads")
        return [np.pad(x, widths, mode="constant", constant_values=value)]
    if op == "Conv":
        return [conv(x, ins[1], ins[2] if len(ins) > 2 else None, a)]
    if op == "MaxPool":
        return [pool(x, a, "max")]
    if op == "AveragePool":
        return [pool(x, a, "avg")]
    if op == "GlobalAveragePool":
        return [x.mean(axis=2, keepdims=True)]
    if op == "GlobalMaxPool":
        return [x.max(axis=2, keepdims=True)]
    if op in ("ReduceMean", "ReduceMax"):
        ax = _axes(a, ins, x.ndim)
        f = np.mean if op == "ReduceMean" else np.max
        return [f(x, axis=ax, keepdims=bool(a.get("keepdims", 1)))]
    if op == "BatchNormalization":
        if a.get("training_mode", 0):
            raise NotImplementedError("BatchNormalization in training mode")
        sc, bi, mu, var = ins[1:5]
        eps = a.get("epsilon", 1e-5)
        shp = (1, -1) + (1,) * (x.ndim - 2)
        y = (x - mu.reshape(shp)) / np.sqrt(var.reshape(shp) + np.asarray(eps, x.dtype))
        return [y * sc.reshape(shp) + bi.reshape(shp)]
    if op == "Flatten":
        ax = a.get("axis", 1)
        return [x.reshape(int(np.prod(x.shape[:ax])), -1)]
    if op == "Gemm":
        A, B = ins[0], ins[1]
        if a.get("transA", 0):
            A = A.T
        if a.get("transB", 0):
            B = B.T
        y = a.get("alpha", 1.0) * (A @ B)
        if len(ins) > 2 and ins[2] is not None:
            y = y + a.get("beta", 1.0) * ins[2]
        return [y.astype(x.dtype)]
    if op == "MatMul":
        return [x @ ins[1]]
    if op == "Add":
        return [x + ins[1]]
    if op == "Sub":
        return [x - ins[1]]
    if op == "Mul":
        return [x * ins[1]]
    if op == "Div":
        return [x / ins[1]]
    if op == "Relu":
        return [np.maximum(x, 0)]
    if op == "LeakyRelu":
        al = np.asarray(a.get("alpha", 0.01), x.dtype)
        return [np.where(x > 0, x, al * x)]
    if op == "Tanh":
        return [np.tanh(x)]
    if op == "Sigmoid":
        return [1 / (1 + np.exp(-x))]
    if op == "Softplus":
        return [softplus(x)]
    if op == "Softmax":
        return [softmax(x, a.get("axis", -1))]
    if op == "LogSoftmax":
        return [np.log(softmax(x, a.get("axis", -1)))]
    raise NotImplementedError("operator %s" % op)


def _up(v):
    if isinstance(v, np.ndarray) and v.dtype in (np.float32, np.float16):
        return v.astype(np.float64)
    return v


def run(model, feeds, upcast=False):
    """Evaluate `model` (an onnx ModelProto) on `feeds` (name -> array);
    returns a dict of every tensor computed (initializers included). With
    upcast=True, float32/float16 initializers, constants and casts become
    float64 (exact conversions): the graph evaluated in double precision."""
    vals = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    if upcast:
        vals = {k: _up(v) for k, v in vals.items()}
    vals.update(feeds)
    for node in model.graph.node:
        ins = [vals[n] if n else None for n in node.input]
        a = attrs(node)
        if upcast:
            a = {k: _up(v) for k, v in a.items()}
            if node.op_type == "Cast" and a["to"] in (1, 10):
                a["to"] = 11
        outs = eval_node(node.op_type, a, ins)
        for name, v in zip(node.output, outs):
            if name:
                vals[name] = v
    return vals
