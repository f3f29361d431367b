"""The peer libraries' side of ``benchmarks/speed.py``: the N1, N2 and N3 networks in PySNN 0.1.1,
BindsNET 0.3.4 and SpikingJelly 2.0.0.

Runs under the python of the virtual environment made by ``benchmarks/setup_peers.sh`` (never
imports ``snn_rl``). The harness calls ``build(sim, case, batch, inputs)`` and then ``step(t)``
with ``t`` the index of the first simulation step of the call; one call runs
``STEPS_PER_CALL.get((sim, case), 1)`` simulation steps (BindsNET: a ``network.run`` over a chunk
of 10 steps, the way BindsNET runs networks). ``NOTES[(sim, case)]`` says where a library differs
from the shared definition of the case; ``REWARD_LAG[(sim, case)]`` is how many steps later than
the others a library applies the same weight change (SpikingJelly: 1). Each library is imported
only when a network of it is built, so a worker's memory holds one library.

Self-check (time per step and spike rates, batch 1 and 16; N3 1 and 4; or one SIM CASE BATCH)::

    benchmarks/.venv-peers/bin/python benchmarks/speed_peers.py
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from itertools import pairwise

import torch

# the cases' shared parameters live in benchmarks/speed.py (stdlib imports only, so this venv
# can import it; speed.py puts benchmarks/ on sys.path before importing this module)
from speed import (
    A_POST,
    A_PRE,
    DECAY_T,
    DECAY_V,
    E_DECAY,
    FEDE_A,
    FEDE_LR,
    FEDE_TAU,
    FEDE_W_INIT,
    IN_SHAPES,
    LR,
    REWARD,
    REWARD_EVERY,
    THRESH,
    W_HIGH,
)

V_REST, DT = 0.0, 1.0  # speed.py's networks use the engine defaults

SIMS = ("pysnn", "bindsnet", "spikingjelly")
SIZES = {"N1": (100, 100, 2), "N2": (1000, 1000)}  # layer sizes of the fully connected cases
CONV = dict(in_channels=2, out_channels=16, kernel=5, image=(32, 32), out=(16, 28, 28))

BINDSNET_CHUNK = 10  # simulation steps per network.run call (= the reward period of N1/N2)
STEPS_PER_CALL = {("bindsnet", case): BINDSNET_CHUNK for case in IN_SHAPES}
# SpikingJelly's MSTDPETLearner applies reward[t] to the eligibility up to step t - 1, so the
# reward of step 9 is given with step 10 and the weight change comes after that step's forward;
# speed.py checks its weights against a floor with the same lag (and reports the plain floor's)
REWARD_LAG = {("spikingjelly", case): 1 for case in SIZES}

_BINDSNET_MSTDPET = (
    "per call network.run(time=9, reward=0) then run(time=1, reward=1.0), one_step=True: "
    "BindsNET's MSTDPET applies w += nu*reward*e on every step, so reward 0 on 9 steps gives "
    "the every-10th-step schedule (the same weights as the others); zero_lag=True, decays as "
    "tc = -1/ln(factor), nu = lr*tc_e_trace (undoes its e/tc_e_trace), batch mean"
)
_SPIKINGJELLY_MSTDPET = (
    "MSTDPETLearner (step_mode 's': the only mode it has) on layer.Linear(bias=False) -> "
    "neuron.LIFNode(tau = 1/(1 - DECAY_V) = 5, decay_input=False, v_reset=0, v_threshold=1: "
    "v - v/5 + x, the same linear LIF up to float rounding); tau_pre = tau_post = "
    "-1/ln(DECAY_T), tau_trace = -1/ln(E_DECAY), f_post = A_PRE, f_pre = A_POST (constant: "
    "additive STDP); its learner takes unbatched [I]/[O] spikes only (a [B, I] record raises), "
    "so batch B runs B row networks whose Linear layers share one weight Parameter, one "
    "learner per row and layer, updates summed in weight.grad, scale = tau_trace/B (undoes "
    "its e/tau_trace and averages the rows), SGD(lr = LR); learner.step(r) every step, "
    "r = 1.0 one step after each 10th step (reward[t] acts on eligibility up to t - 1), so "
    "each weight change (LR * e of the 10th step, as the floor's) lands after the next "
    "step's forward, one step late (REWARD_LAG = 1): the weights equal a floor with that "
    "lag; against the on-time floor the 60-step dynamics drift apart"
)
NOTES = {
    ("pysnn", "N1"): (
        "SNNNetwork of Input -> (Linear -> LIFNeuron 'linear', tau_v = tau_t = 0.8) x2; "
        "MSTDPET.update_state() every step, step(1.0) when t % 10 == 9: as specified"
    ),
    ("pysnn", "N2"): (
        "SNNNetwork of Input -> Linear -> LIFNeuron 'linear', tau_v = tau_t = 0.8; "
        "MSTDPET.update_state() every step, step(1.0) when t % 10 == 9: as specified"
    ),
    ("pysnn", "N3"): (
        "Input -> Conv2d -> FedeNeuron (exponential, tau_v = tau_t = 5, as the harness's snn_rl), "
        "FedeSTDP.step() every step (silent with the shared parameters, as snn_rl's); kept "
        "PySNN's bugs: Conv2d.forward's fold is not a true convolution, FedeSTDP uses the "
        "global trace max and a scrambled Conv2d reshape"
    ),
    ("bindsnet", "N1"): _BINDSNET_MSTDPET,
    ("bindsnet", "N2"): _BINDSNET_MSTDPET,
    ("bindsnet", "N3"): (
        "no FedeSTDP or Fede neuron in BindsNET: Conv2dConnection -> LIFNodes (decay 0.8) with "
        "PostPre (nu = 1e-4 both ways, additive traces decaying 0.8, batch mean) every step; "
        "one network.run(time=10, one_step=True) per call"
    ),
    ("spikingjelly", "N1"): _SPIKINGJELLY_MSTDPET,
    ("spikingjelly", "N2"): _SPIKINGJELLY_MSTDPET,
    ("spikingjelly", "N3"): (
        "no FedeSTDP or Fede neuron in SpikingJelly: layer.Conv2d -> LIFNode (as in N1) with "
        "STDPLearner (pair STDP, its Euler traces tr - tr/tau + s with tau = 1/(1 - 0.8), "
        "f_pre = f_post = 1, summed over positions, batch mean by scale = 1/B) and "
        "SGD(lr = 1e-4) every step, step_mode 's'"
    ),
}


def _check(sim: str, case: str, batch: int, inputs: torch.Tensor) -> None:
    if sim not in SIMS:
        raise ValueError(f"sim must be one of {SIMS}, got {sim!r}")
    if case not in IN_SHAPES:
        raise ValueError(f"case must be one of {tuple(IN_SHAPES)}, got {case!r}")
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch!r}")
    want = (batch, *IN_SHAPES[case])
    if inputs.dim() != len(want) + 1 or tuple(inputs.shape[1:]) != want:
        raise ValueError(
            f"inputs must have shape (P, {', '.join(map(str, want))}) for case {case}, "
            f"got {tuple(inputs.shape)}"
        )


def _initial_weights(case: str) -> list[torch.Tensor]:
    """Weights of every connection, drawn in the harness's order: (out, in) or (out, in, kh, kw)."""
    gen = torch.Generator().manual_seed(0)
    if case == "N3":
        c = CONV
        shape = (c["out_channels"], c["in_channels"], c["kernel"], c["kernel"])
        return [torch.rand(shape, generator=gen) * W_HIGH[case]]
    return [torch.rand(b, a, generator=gen) * W_HIGH[case] for a, b in pairwise(SIZES[case])]


def _tc(factor: float) -> float:
    """BindsNET time constant whose per-step decay exp(-dt / tc) equals ``factor``."""
    return -DT / math.log(factor)


def build(sim: str, case: str, batch: int, inputs: torch.Tensor) -> Callable[[int], None]:
    """One simulation step (BindsNET: ``STEPS_PER_CALL`` steps) of network ``case`` in ``sim``.

    ``inputs`` is a float 0/1 tensor of shape ``(P, batch, *in_shape)``; step ``t`` feeds frame
    ``inputs[t % P]``. The returned callable also has ``network`` (the library's network object),
    ``output()`` (last layer's spikes of the latest step, float) and ``weights()`` (each
    connection's weights as (out, -1)).
    """
    _check(sim, case, batch, inputs)
    builders = {
        "pysnn": _build_pysnn,
        "bindsnet": _build_bindsnet,
        "spikingjelly": _build_spikingjelly,
    }
    return builders[sim](case, batch, inputs)


# --------------------------------------------------------------------------- PySNN 0.1.1
def _build_pysnn(case: str, batch: int, inputs: torch.Tensor) -> Callable[[int], None]:
    from pysnn.connection import Conv2d, Linear
    from pysnn.learning import MSTDPET, FedeSTDP
    from pysnn.network import SNNNetwork
    from pysnn.neuron import FedeNeuron, Input, LIFNeuron

    weights = _initial_weights(case)
    n_frames = inputs.shape[0]

    if case == "N3":
        c = CONV

        class ConvNet(SNNNetwork):
            def __init__(self) -> None:
                super().__init__()
                self.input = Input((batch, c["in_channels"], *c["image"]), DT, 1.0, DECAY_T)
                self.conv = Conv2d(
                    c["in_channels"], c["out_channels"], c["kernel"], c["image"], batch, DT, 0
                )
                self.conv.weight.copy_(weights[0])
                # (cells_shape, thresh, v_rest, alpha_v, alpha_t, dt, duration_refrac, tau_v, tau_t)
                self.neuron = FedeNeuron(
                    (batch, *c["out"]), THRESH, V_REST, 1.0, 1.0, DT, 0, FEDE_TAU, FEDE_TAU
                )
                self.add_layer("conv", self.conv, self.neuron)

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                x, trace = self.input(x)
                x, trace = self.conv(x, trace)
                x, _ = self.neuron(x, trace)
                return x

        net = ConvNet()
        rule = FedeSTDP(net.layer_state_dict(), FEDE_LR, FEDE_W_INIT, FEDE_A)
        frames = inputs  # (P, B, C, H, W): the neuron shapes include the batch

        def step(t: int) -> None:
            net(frames[t % n_frames])
            rule.step()

        step.output = lambda: net.neuron.spikes.float()
        step.weights = lambda: [net.conv.weight.reshape(c["out_channels"], -1)]

    else:
        sizes = SIZES[case]

        class MLP(SNNNetwork):
            def __init__(self) -> None:
                super().__init__()
                self.input = Input((batch, 1, sizes[0]), DT, 1.0, DECAY_T)
                self.layers = []
                for i, (a, b) in enumerate(pairwise(sizes)):
                    fc = Linear(a, b, batch, DT, 0)
                    fc.weight.copy_(weights[i])
                    # (cells_shape, thresh, v_rest, alpha_v, alpha_t, dt, duration_refrac,
                    #  tau_v, tau_t, update_type): "linear" takes tau_* as per-step factors
                    neuron = LIFNeuron(
                        (batch, 1, b), THRESH, V_REST, 1.0, 1.0, DT, 0, DECAY_V, DECAY_T, "linear"
                    )
                    setattr(self, f"fc{i}", fc)
                    setattr(self, f"neuron{i}", neuron)
                    self.add_layer(f"fc{i}", fc, neuron)
                    self.layers.append((fc, neuron))

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                x, trace = self.input(x)
                for fc, neuron in self.layers:
                    x, _ = fc(x, trace)
                    x, trace = neuron(x)
                return x

        net = MLP()
        layers = net.layer_state_dict()
        assert isinstance(layers, OrderedDict)
        rule = MSTDPET(layers, A_PRE, A_POST, LR, E_DECAY)
        frames = inputs.unsqueeze(2)  # (P, B, 1, I): PySNN's Linear input layout

        def step(t: int) -> None:
            net(frames[t % n_frames])
            rule.update_state()
            if t % REWARD_EVERY == REWARD_EVERY - 1:
                rule.step(REWARD)

        step.output = lambda: net.layers[-1][1].spikes.float()
        step.weights = lambda: [fc.weight for fc, _ in net.layers]

    step.network = net
    return step


# --------------------------------------------------------------------------- BindsNET 0.3.4
def _build_bindsnet(case: str, batch: int, inputs: torch.Tensor) -> Callable[[int], None]:
    from bindsnet.learning import MSTDPET, PostPre
    from bindsnet.network import Network
    from bindsnet.network.nodes import Input, LIFNodes
    from bindsnet.network.topology import Connection, Conv2dConnection

    weights = _initial_weights(case)
    tc_v, tc_t, tc_e = _tc(DECAY_V), _tc(DECAY_T), _tc(E_DECAY)
    lif = dict(thresh=THRESH, rest=V_REST, reset=V_REST, refrac=0, tc_decay=tc_v)
    net = Network(dt=DT, batch_size=batch)
    run_kwargs: dict = {"one_step": True}  # feed-forward within a step, like the other sims

    if case == "N3":
        c = CONV
        traces = dict(traces=True, traces_additive=True, tc_trace=tc_t, trace_scale=1.0)
        net.add_layer(Input(shape=(c["in_channels"], *c["image"]), **traces), name="X")
        net.add_layer(LIFNodes(shape=c["out"], **traces, **lif), name="Y")
        conv = Conv2dConnection(
            source=net.layers["X"],
            target=net.layers["Y"],
            kernel_size=c["kernel"],
            stride=1,
            padding=0,
            w=weights[0].clone(),
            update_rule=PostPre,
            nu=(FEDE_LR, FEDE_LR),
            reduction=torch.mean,
        )
        net.add_connection(conv, source="X", target="Y")
        out_name = "Y"
        step_weights = lambda: [conv.w.reshape(c["out_channels"], -1)]  # noqa: E731
    else:
        # MSTDPET keeps its own pre/post traces (tc_plus / tc_minus, increments a_plus = 1,
        # a_minus = -1 by default); the nodes need none.
        net.add_layer(Input(n=SIZES[case][0]), name="X")
        prev = "X"
        connections = []
        for i, b in enumerate(SIZES[case][1:]):
            name = f"L{i}"
            net.add_layer(LIFNodes(n=b, **lif), name=name)
            conn = Connection(
                source=net.layers[prev],
                target=net.layers[name],
                w=weights[i].t().contiguous(),  # BindsNET stores (source.n, target.n)
                update_rule=MSTDPET,
                nu=LR * tc_e,  # its eligibility trace integrates e / tc_e_trace
                reduction=torch.mean,
                tc_plus=tc_t,
                tc_minus=tc_t,
                tc_e_trace=tc_e,
                zero_lag=True,  # this step's pairings count before the weight change (PySNN)
            )
            net.add_connection(conn, source=prev, target=name)
            connections.append(conn)
            prev = name
        out_name = prev
        run_kwargs["reward"] = REWARD  # on the last step of each chunk only (see step)
        step_weights = lambda: [conn.w.t() for conn in connections]  # noqa: E731

    # BindsNET spike trains are bool (time, batch, *shape); append the first frames so that any
    # window of BINDSNET_CHUNK frames starting in [0, P) is one slice (a view, no copy per call).
    n_frames = inputs.shape[0]
    spikes = inputs.bool()
    spikes = torch.cat([spikes] + [spikes] * ((BINDSNET_CHUNK - 1) // n_frames + 1))
    out_layer = net.layers[out_name]

    def step(t: int) -> None:
        start = t % n_frames
        chunk = spikes[start : start + BINDSNET_CHUNK]
        if "reward" not in run_kwargs:
            net.run(inputs={"X": chunk}, time=BINDSNET_CHUNK, **run_kwargs)
            return
        # BindsNET changes weights on every step by reward * e: reward 0 for 9 steps, then 1
        net.run(inputs={"X": chunk[:-1]}, time=BINDSNET_CHUNK - 1, one_step=True, reward=0.0)
        net.run(inputs={"X": chunk[-1:]}, time=1, **run_kwargs)

    step.output = lambda: out_layer.s.float()
    step.weights = step_weights
    step.network = net
    return step


# --------------------------------------------------------------------------- SpikingJelly 2.0.0
def _build_spikingjelly(case: str, batch: int, inputs: torch.Tensor) -> Callable[[int], None]:
    import torch.nn as nn
    from spikingjelly.activation_based import layer, neuron

    # decay_input=False charges h = v - (v - v_reset) / tau + x = v * (1 - 1/tau) + x
    lif = dict(
        tau=1.0 / (1.0 - DECAY_V),
        decay_input=False,
        v_threshold=THRESH,
        v_reset=V_REST,
        step_mode="s",
    )
    if case == "N3":
        return _build_spikingjelly_conv(batch, inputs, lif)

    from spikingjelly.activation_based.learning import MSTDPETLearner

    # MSTDPETLearner takes unbatched spikes ([in] and [out]): one row network per batch row,
    # every row's Linear holding the same weight Parameter, so the rows' updates add up in
    # weight.grad and one optimizer step applies them
    weights = [nn.Parameter(w.clone()) for w in _initial_weights(case)]
    tau_t, tau_e = _tc(DECAY_T), _tc(E_DECAY)
    rows, learners = [], []
    for _ in range(batch):
        modules = []
        for (a, b), w in zip(pairwise(SIZES[case]), weights, strict=True):
            fc = layer.Linear(a, b, bias=False, step_mode="s")
            fc.weight = w
            sn = neuron.LIFNode(**lif)
            learner = MSTDPETLearner(
                step_mode="s",
                synapse=fc,
                sn=sn,
                tau_pre=tau_t,
                tau_post=tau_t,
                tau_trace=tau_e,
                f_pre=lambda weight: A_POST,  # amplitude of the trace_post x pre-spike (LTD) term
                f_post=lambda weight: A_PRE,  # amplitude of the post-spike x trace_pre (LTP) term
            )
            modules += [fc, sn]
            learners.append(learner)
        rows.append(nn.Sequential(*modules))
    optimizer = torch.optim.SGD(weights, lr=LR)
    scale = tau_e / batch  # its trace_e integrates e / tau_trace; the batch mean of the rows
    frames = [frame.unbind(0) for frame in inputs]  # frames[p][b]: row b's input, (in,)
    n_frames = len(frames)
    out: list[torch.Tensor] = []

    @torch.no_grad()
    def step(t: int) -> None:
        frame = frames[t % n_frames]
        out[:] = [row(x) for row, x in zip(rows, frame, strict=True)]
        # reward[t] acts on the eligibility up to step t - 1: reward the 10th step one step later
        rewarded = t > 0 and (t - 1) % REWARD_EVERY == REWARD_EVERY - 1
        reward = REWARD if rewarded else 0.0
        for learner in learners:
            learner.step(reward, on_grad=rewarded, scale=scale)
        if rewarded:
            optimizer.step()
            optimizer.zero_grad()

    step.output = lambda: torch.stack(out).float()
    step.weights = lambda: [w.detach() for w in weights]
    step.network = rows
    return step


def _build_spikingjelly_conv(batch: int, inputs: torch.Tensor, lif: dict) -> Callable[[int], None]:
    import torch.nn as nn
    from spikingjelly.activation_based import layer, neuron
    from spikingjelly.activation_based.learning import STDPLearner

    c = CONV
    conv = layer.Conv2d(c["in_channels"], c["out_channels"], c["kernel"], bias=False, step_mode="s")
    with torch.no_grad():
        conv.weight.copy_(_initial_weights("N3")[0])
    sn = neuron.LIFNode(**lif)
    net = nn.Sequential(conv, sn)
    tau = 1.0 / (1.0 - DECAY_T)  # STDPLearner's traces decay by Euler steps, tr - tr / tau
    learner = STDPLearner(
        step_mode="s", synapse=conv, sn=sn, tau_pre=tau, tau_post=tau,
        f_pre=lambda weight: 1.0, f_post=lambda weight: 1.0,
    )  # fmt: skip
    optimizer = torch.optim.SGD([conv.weight], lr=FEDE_LR)
    frames = list(inputs)
    out: list[torch.Tensor] = []

    @torch.no_grad()
    def step(t: int) -> None:
        out[:] = [net(frames[t % len(frames)])]
        learner.step(on_grad=True, scale=1.0 / batch)  # it sums over the batch
        optimizer.step()
        optimizer.zero_grad()

    step.output = lambda: out[0].float()
    step.weights = lambda: [conv.weight.detach().reshape(c["out_channels"], -1)]
    step.network = net
    return step


# --------------------------------------------------------------------------- self-check
def _check_one(sim: str, case: str, batch: int, steps: int = 50) -> str:
    """Build, time ``steps`` steps, then measure the last layer's spike rate over ``steps`` more."""
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(1234)  # the harness's inputs: p = 0.1, 64 frames
    inputs = (torch.rand((64, batch, *IN_SHAPES[case]), generator=gen) < 0.1).float()
    step = build(sim, case, batch, inputs)
    per_call = STEPS_PER_CALL.get((sim, case), 1)
    calls = max(1, steps // per_call)
    step(0)  # warm-up call
    start = time.perf_counter()
    for i in range(1, calls + 1):
        step(i * per_call)
    ms = (time.perf_counter() - start) / (calls * per_call) * 1e3
    if sim == "bindsnet":  # a monitor, added only now so that it is not timed
        from bindsnet.network.monitors import Monitor

        net = step.network
        out = list(net.layers)[-1]
        net.add_monitor(Monitor(net.layers[out], state_vars=["s"]), name="out")
        for i in range(calls + 1, 2 * calls + 1):
            step(i * per_call)
        rate = net.monitors["out"].get("s").float().mean().item()
    else:
        total = 0.0
        for i in range(calls + 1, 2 * calls + 1):
            step(i * per_call)
            total += step.output().mean().item()
        rate = total / calls
    finite = all(bool(torch.isfinite(w).all()) for w in step.weights())
    return f"{sim:<9} {case:<4} {batch:>3} {ms:>9.3f} {rate:>9.3f} {finite!s:>6}"


def _self_check() -> None:
    """Every (sim, case) at two batch sizes, each in a fresh process like the harness's workers
    (PySNN's speed depends a lot on the state of the allocator: see the report)."""
    import subprocess
    import sys

    batches = {"N1": (1, 16), "N2": (1, 16), "N3": (1, 4)}
    print(f"torch {torch.__version__}, 1 thread, 50 timed steps per line (fresh process each)")
    print(f"{'sim':<9} {'case':<4} {'B':>3} {'ms/step':>9} {'out rate':>9} {'finite':>6}")
    for sim in SIMS:
        for case, bs in batches.items():
            for batch in bs:
                cmd = [sys.executable, __file__, sim, case, str(batch)]
                proc = subprocess.run(cmd, capture_output=True, text=True)
                lines = (proc.stdout or proc.stderr).strip().splitlines() or ["no output"]
                print(lines[-1] if proc.returncode == 0 else f"{sim} {case} {batch}: {lines[-1]}")


if __name__ == "__main__":
    import sys

    if len(sys.argv) == 4:
        print(_check_one(sys.argv[1], sys.argv[2], int(sys.argv[3])))
    else:
        _self_check()
