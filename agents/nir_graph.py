"""Spiking networks as NIR graphs (the Neuromorphic Intermediate Representation), and back.

:func:`network_to_nir` maps a feed-forward :class:`~snn_rl.SNNNetwork` to a ``nir.NIRGraph``;
:func:`network_from_nir` maps a graph back (the agents' side, with the learning state, is
:mod:`snn_rl.agents.nir_export`). ``docs/nir.md`` has the full mapping and its limits; in
short, one simulation step is :data:`NIR_DT` seconds of NIR time (what snnTorch's NIR
reader assumes), NIR voltages are ours minus ``v_rest`` (so ``v_leak = v_reset = 0`` and
``v_threshold = thresh - v_rest``), and a step of ours is the forward-Euler step of the NIR
equation ``tau*dv/dt = -v + r*I``, ``v += -k*v + g*I``, with ``k`` the fraction of ``v``
lost per step and ``g`` the input gain per step:

==================================  =======  ================================================
ours                                NIR      parameters
==================================  =======  ================================================
the source population's input       Input    the encoder's currents ``(F,)``
``Input`` (as the source)           (none)   the graph's input is the spikes
``LIFNeuron``, linear               LIF      ``k = 1 - decay_v``, ``g = alpha_v``
``LIFNeuron``, exponential          LIF      ``k = dt_ours/tau_v``, ``g = k*alpha_v``
(both)                                       ``tau = NIR_DT/k``, ``r = g/k``
``IFNeuron``, LIF with ``k = 0``    IF       ``r = g/NIR_DT``
``Linear``                          Linear   ``weight (out, in)``
``Conv2d``                          Conv2d   weight, stride, padding, dilation, zero bias
==================================  =======  ================================================

The voltage floor ``v_min`` has no NIR equivalent: the graph omits it, the export warns and
lists it under the metadata's ``approximations`` (``strict=True`` raises instead).
Adaptive thresholds, Fede neurons, refractory periods, delays and recurrent layers raise.

Example:
    >>> from snn_rl import IFNeuron, LIFNeuron, Linear, SNNNetwork
    >>> net = SNNNetwork()
    >>> net.add_layer("fc", Linear(2, 1, weight=0.5), IFNeuron(2), LIFNeuron(1, decay_v=0.75))
    >>> graph = network_to_nir(net)
    >>> [type(graph.nodes[n]).__name__ for n in ("input", "pop_fc_pre", "conn_fc", "pop_fc_post")]
    ['Input', 'IF', 'Linear', 'LIF']
    >>> lif = graph.nodes["pop_fc_post"]  # k = 1 - 0.75: tau = 1e-4/k, r = alpha_v/k
    >>> round(float(lif.tau[0]), 12), float(lif.r[0])
    (0.0004, 4.0)
    >>> network_from_nir(graph).neurons["fc_post"].decay_v
    0.75
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from snn_rl import (
    AdaptiveLIFNeuron,
    Conv2d,
    FedeNeuron,
    IFNeuron,
    Input,
    LIFNeuron,
    Linear,
    SNNNetwork,
    __version__,
)
from snn_rl.neurons import Neuron

if TYPE_CHECKING:
    import nir as nir_module

__all__ = ["METADATA_KEY", "NIR_DT", "network_from_nir", "network_to_nir", "require_nir"]


#: Seconds of NIR time per simulation step (snnTorch's NIR reader and writer use 1e-4 too).
NIR_DT = 1e-4
METADATA_KEY = "snn_rl"
NIR_FORMAT = "snn-rl-nir"
NIR_FORMAT_VERSION = 1
NEURONS: dict[str, type[Neuron]] = {c.__name__: c for c in (Input, IFNeuron, LIFNeuron)}
UNMAPPABLE = {
    AdaptiveLIFNeuron: "its adaptive threshold has no NIR equivalent",
    FedeNeuron: "its forcing subtracts the presynaptic trace sum, which NIR cannot express",
}


def require_nir() -> Any:
    """The ``nir`` module; ImportError saying how to install it when it is missing."""
    try:
        import nir
    except ImportError as err:
        raise ImportError(
            "NIR export needs the nir package: pip install nir (or snn-rl[nir])"
        ) from err
    return nir


# --------------------------------------------------------------------------- network -> NIR
def _full(shape: tuple[int, ...], value: float) -> np.ndarray:
    return np.full(shape, float(value), dtype=np.float64)


def _neuron_node(neuron: Neuron, approximations: list[str], strict: bool) -> Any:
    """The NIR node of one population (see the module docstring)."""
    nir, where = require_nir(), neuron.label
    if type(neuron) not in (IFNeuron, LIFNeuron):
        reason = UNMAPPABLE.get(type(neuron), "only IFNeuron and LIFNeuron populations map")
        raise ValueError(f"{where}: {type(neuron).__name__} cannot be exported to NIR: {reason}")
    if neuron.refrac_steps:
        raise ValueError(
            f"{where}: a refractory period (duration_refrac={neuron.duration_refrac}) has no "
            "NIR equivalent; export a network with duration_refrac=0"
        )
    if neuron.v_min is not None:
        note = (
            f"{where}: the voltage floor v_min={neuron.v_min} has no NIR equivalent; the graph "
            "omits it (the exact value is in the node's metadata)"
        )
        if strict:
            raise ValueError(f"{note}; strict=True refuses approximations")
        approximations.append(note)
    shape, thresh = neuron.shape, neuron.thresh - neuron.v_rest
    params = {f.name: getattr(neuron, f.name) for f in dataclasses.fields(neuron)}
    params.pop("shape")
    exact = {"class": type(neuron).__name__, "shape": list(shape), "params": params}
    metadata = {METADATA_KEY: json.dumps(exact)}
    # k: the fraction of v lost per step; gain: the per-step input scale (v += gain*I)
    k, gain = 0.0, neuron.alpha_v
    if isinstance(neuron, LIFNeuron) and neuron.update_type == "linear":
        k = 1.0 - neuron.decay_v
    elif isinstance(neuron, LIFNeuron):
        k = neuron.dt / neuron.tau_v
        gain = k * neuron.alpha_v
    if k == 0.0:  # no leak: dv/dt = r*I, so v += dt*r*I = gain*I
        return nir.IF(
            r=_full(shape, gain / NIR_DT),
            v_threshold=_full(shape, thresh),
            v_reset=_full(shape, 0.0),
            metadata=metadata,
        )
    return nir.LIF(  # tau*dv/dt = -v + r*I, so v += dt/tau*(-v + r*I) = -k*v + gain*I
        tau=_full(shape, NIR_DT / k),
        r=_full(shape, gain / k),
        v_leak=_full(shape, 0.0),
        v_threshold=_full(shape, thresh),
        v_reset=_full(shape, 0.0),
        metadata=metadata,
    )


def _connection_node(conn: Any, name: str, role: str | None) -> Any:
    nir = require_nir()
    if conn.max_delay:
        raise ValueError(
            f"layer {name!r}: connection delays (up to {conn.max_delay} steps) are not exported "
            "to NIR; export a network without delays"
        )
    weight = conn.weight.detach().cpu().numpy().copy()
    metadata = {
        METADATA_KEY: json.dumps({"class": type(conn).__name__, "layer": name, "role": role})
    }
    if type(conn) is Linear:
        return nir.Linear(weight=weight, metadata=metadata)
    if type(conn) is Conv2d:
        return nir.Conv2d(
            input_shape=tuple(conn.input_size),
            weight=weight,
            stride=tuple(conn.stride),
            padding=tuple(conn.padding),
            dilation=tuple(conn.dilation),
            groups=1,
            bias=np.zeros(conn.out_channels, dtype=weight.dtype),
            metadata=metadata,
        )
    raise ValueError(
        f"layer {name!r}: {type(conn).__name__} connections cannot be exported (Linear, Conv2d)"
    )


def network_to_nir(network: SNNNetwork, *, strict: bool = False) -> nir_module.NIRGraph:
    """The NIR graph of a feed-forward :class:`~snn_rl.SNNNetwork` (module docstring).

    Nodes are ``input``, ``pop_<population>``, ``conn_<layer>`` and ``output`` (the last
    layer's postsynaptic population). Graph metadata ``snn_rl`` holds the format, ``dt``,
    the layers with their roles and the approximations made.

    Args:
        strict: raise instead of approximating (the ``v_min`` floor).

    Raises:
        ValueError: a population, connection or wiring that NIR cannot express, naming it.
    """
    nir = require_nir()
    layers = network.layer_state_dict()
    if not layers:
        raise ValueError("the network has no layers")
    source = network.source()
    names = {id(m): f"pop_{key}" for key, m in network.neurons.items()}
    stepped = list(dict.fromkeys(id(layer["postsynaptic"]) for layer in layers.values()))
    nodes: dict[str, Any] = {"input": nir.Input(input_type={"input": np.array(source.shape)})}
    edges, approximations, records = [], [], []
    if type(source) is not Input:
        nodes[names[id(source)]] = _neuron_node(source, approximations, strict)
        edges.append(("input", names[id(source)]))
    for name, layer in layers.items():
        pre, post = layer["presynaptic"], layer["postsynaptic"]
        if pre is not source and stepped.index(id(pre)) >= stepped.index(id(post)):
            raise ValueError(
                f"layer {name!r} is recurrent (its presynaptic population is stepped after its "
                "postsynaptic one, so it carries the previous step's spikes); NIR export "
                "supports feed-forward networks only"
            )
        role = network.roles[name]
        conn_name, post_name = f"conn_{name}", names[id(post)]
        pre_name = "input" if type(pre) is Input else names[id(pre)]
        nodes[conn_name] = _connection_node(layer["connection"], name, role)
        if post_name not in nodes:
            nodes[post_name] = _neuron_node(post, approximations, strict)
        edges += [(pre_name, conn_name), (conn_name, post_name)]
        records.append(
            {
                "name": name,
                "connection": conn_name,
                "pre": pre_name,
                "post": post_name,
                "role": role,
            }
        )
    nodes["output"] = nir.Output(output_type={"output": np.array(post.shape)})
    edges.append((post_name, "output"))
    meta = {
        "format": NIR_FORMAT,
        "format_version": NIR_FORMAT_VERSION,
        "snn_rl_version": __version__,
        "dt": NIR_DT,
        "network": json.dumps({"layers": records}),
        "approximations": json.dumps(approximations),
    }
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={METADATA_KEY: meta})


# --------------------------------------------------------------------------- NIR -> network
def _uniform(node: Any, name: str, key: str) -> float:
    values = np.unique(np.asarray(getattr(node, key), dtype=np.float64))
    if values.size != 1:
        raise ValueError(f"node {name!r}: {key} differs between neurons; snn_rl takes one value")
    return float(values[0])


def _neuron_from_node(name: str, node: Any, dt: float) -> Neuron:
    nir, exact = require_nir(), node.metadata.get(METADATA_KEY)
    if exact is not None:
        data = json.loads(exact)
        if data.get("class") not in NEURONS:
            raise ValueError(f"node {name!r}: unknown snn_rl neuron class {data.get('class')!r}")
        neuron = NEURONS[data["class"]](tuple(data["shape"]), **data["params"])
        again = _neuron_node(neuron, [], strict=False)
        same = type(again) is type(node) and all(
            np.allclose(getattr(again, key), getattr(node, key), rtol=1e-9, atol=0.0)
            for key in ("r", "v_threshold", "v_reset", "tau", "v_leak")
            if hasattr(node, key)
        )
        if not same:
            raise ValueError(
                f"node {name!r}: its NIR parameters differ from the exact snn_rl parameters in "
                "its metadata (was the graph edited?); remove the node's 'snn_rl' metadata to "
                "import the NIR parameters instead"
            )
        return neuron
    shape = tuple(int(n) for n in np.shape(node.r))
    if isinstance(node, nir.IF):
        if _uniform(node, name, "v_reset") != 0.0:
            raise ValueError(f"node {name!r}: an IF node must reset to 0 (it starts there)")
        return IFNeuron(
            shape,
            alpha_v=_uniform(node, name, "r") * dt,
            thresh=_uniform(node, name, "v_threshold"),
        )
    if isinstance(node, nir.LIF):
        v_leak = _uniform(node, name, "v_leak")
        if _uniform(node, name, "v_reset") != v_leak:
            raise ValueError(f"node {name!r}: snn_rl LIF neurons reset to v_leak (their v_rest)")
        k = dt / _uniform(node, name, "tau")
        if not 0.0 < k <= 1.0:
            raise ValueError(f"node {name!r}: tau must be >= dt ({dt}) for a decay in [0, 1)")
        return LIFNeuron(
            shape,
            decay_v=1.0 - k,
            alpha_v=_uniform(node, name, "r") * k,
            thresh=_uniform(node, name, "v_threshold"),
            v_rest=v_leak,
        )
    raise ValueError(
        f"node {name!r}: NIR {type(node).__name__} is not supported (IF, LIF, Linear, Affine "
        "without bias, Conv2d)"
    )


def _connection_from_node(name: str, node: Any, pre_shape: tuple[int, ...]) -> Any:
    nir = require_nir()
    weight = torch.as_tensor(np.asarray(node.weight), dtype=torch.float32)
    if isinstance(node, nir.Affine | nir.Conv2d) and np.any(np.asarray(node.bias) != 0):
        raise ValueError(f"node {name!r}: a bias has no equivalent (snn_rl connections have none)")
    if isinstance(node, nir.Linear | nir.Affine):
        return Linear(weight.shape[1], weight.shape[0], weight=weight)
    if isinstance(node, nir.Conv2d):
        if node.groups != 1 or isinstance(node.padding, str) and node.padding != "valid":
            raise ValueError(f"node {name!r}: only groups=1 and numeric padding are supported")
        padding = 0 if isinstance(node.padding, str) else tuple(int(p) for p in node.padding)
        return Conv2d(
            weight.shape[1],
            weight.shape[0],
            tuple(weight.shape[2:]),
            input_size=tuple(pre_shape[1:]),
            stride=tuple(int(s) for s in node.stride),
            padding=padding,
            dilation=tuple(int(d) for d in node.dilation),
            weight=weight,
        )
    return None


def _layer_records(graph: Any, meta: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The layers, in order: the recorded ones, else every connection node in topological
    order (Kahn's algorithm, ties by name)."""
    if meta is not None and "network" in meta:
        return json.loads(meta["network"])["layers"]
    nir = require_nir()
    connections = (nir.Linear, nir.Affine, nir.Conv2d)
    into: dict[str, list[str]] = {n: [] for n in graph.nodes}
    out: dict[str, list[str]] = {n: [] for n in graph.nodes}
    for a, b in graph.edges:
        out[a].append(b)
        into[b].append(a)
    indegree = {n: len(v) for n, v in into.items()}
    ready, order = sorted(n for n, d in indegree.items() if d == 0), []
    while ready:
        node = ready.pop(0)
        order.append(node)
        for nxt in out[node]:
            indegree[nxt] -= 1
            if indegree[nxt] == 0:
                ready = sorted([*ready, nxt])
    if len(order) != len(graph.nodes):
        raise ValueError("the graph has a cycle; only feed-forward graphs are imported")
    records = []
    for name in order:
        if isinstance(graph.nodes[name], connections):
            if len(into[name]) != 1 or len(out[name]) != 1:
                raise ValueError(f"node {name!r}: a connection needs one input and one output edge")
            layer = name.removeprefix("conn_").replace(".", "_")
            records.append(
                {"name": layer, "connection": name, "pre": into[name][0], "post": out[name][0]}
            )
    return records


def network_from_nir(graph: nir_module.NIRGraph) -> SNNNetwork:
    """An :class:`~snn_rl.SNNNetwork` from a feed-forward NIR graph of IF/LIF populations and
    Linear/Affine/Conv2d connections.

    Populations written by :func:`network_to_nir` are rebuilt from the exact parameters in
    their metadata (checked against the NIR ones); others from the NIR parameters, with
    ``dt`` :data:`NIR_DT` and linear decays ``decay_v = 1 - dt/tau``, ``alpha_v = r*dt/tau``
    (LIF) or ``alpha_v = r*dt`` (IF).

    Raises:
        ValueError: a node or wiring without an snn_rl equivalent, naming it.
    """
    nir, meta = require_nir(), graph.metadata.get(METADATA_KEY)
    dt = float(meta["dt"]) if meta is not None and "dt" in meta else NIR_DT
    inputs = [n for n, node in graph.nodes.items() if isinstance(node, nir.Input)]
    if len(inputs) != 1:
        raise ValueError(f"the graph must have exactly one Input node, it has {len(inputs)}")
    populations: dict[str, Neuron] = {}

    def population(name: str) -> Neuron:
        if name not in populations:
            node = graph.nodes[name]
            if isinstance(node, nir.Input):
                shape = tuple(int(n) for n in node.input_type["input"])
                populations[name] = Input(shape)
            else:
                populations[name] = _neuron_from_node(name, node, dt)
        return populations[name]

    net, edges = SNNNetwork(), set(graph.edges)
    for rec in _layer_records(graph, meta):
        wiring = {(rec["pre"], rec["connection"]), (rec["connection"], rec["post"])}
        if not wiring <= edges:
            raise ValueError(f"layer {rec['name']!r}: the graph's edges differ from its metadata")
        pre = population(rec["pre"])
        conn = _connection_from_node(rec["connection"], graph.nodes[rec["connection"]], pre.shape)
        if conn is None:
            raise ValueError(f"node {rec['connection']!r}: not a connection (Linear, Conv2d)")
        net.add_layer(rec["name"], conn, pre, population(rec["post"]), role=rec.get("role"))
    if not net.layer_state_dict():
        raise ValueError("the graph has no connection nodes (Linear, Affine, Conv2d)")
    return net
