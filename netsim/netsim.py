#!/usr/bin/env python3
"""netsim: p2pnet nodes on an emulated network of Linux network namespaces.

Every node (p2pnet_netsim_node) runs in a namespace of its own, with one veth pair
whose other end sits on a bridge in a hub namespace. There are two bridges, half A and
half B, joined by one veth pair, the inter-half link: taking it down partitions the
network. Node i's link delays every frame by d_i on both ends, so a packet from node i
to node j takes d_i + d_j. Nothing is routed out of the namespaces: the hub has no
uplink and no namespace has a default route.

Scenarios (--scenario):
  propagation  blocks and transactions, one at a time from random nodes: how long until
               the first other node and every node has each
  partition    cut the network in halves, mine in both (more in half A), restore the
               link, and measure how long every node takes to reach half A's tip
  eclipse      an attacker namespace holding many addresses of one /16 fills a node's
               inbound slots and floods it with addresses; the node must keep its
               block-relay-only peers, keep getting blocks, and after a restart come
               back to the same peers through its anchors

Link delays use netem where the kernel has it (sch_netem); elsewhere a relay process in
the hub namespace holds each frame for the link's delay (this file run with
--link-relay). Needs root and iproute2 (ip, tc); without them it exits 77, which ctest
counts as a skip. Standard library only.
"""

import argparse
import atexit
import heapq
import json
import os
import random
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

EXIT_SKIP = 77
LISTEN_PORT = 18444
# Node i is 11.<i+1>.0.1/8: routable-looking (the engine will not gossip private
# addresses) and one /16 network group per node; 11.200.0.0/16 stays free for an
# attacker namespace.
MAX_NODES = 199
NODE_PREFIX_LEN = 8
# Names of the interfaces in the hub namespace.
BRIDGES = {"A": "brA", "B": "brB"}
INTER_HALF_ENDS = {"A": "cutA", "B": "cutB"}
NODE_IFNAME = "eth0"
# The attacker's hub-side interface; its namespace holds ATTACKER_RANGE.x.y addresses.
ATTACKER_IFNAME = "atk"
ATTACKER_RANGE = "11.200"


def node_ip(index):
    return f"11.{index + 1}.0.1"


def log(text):
    print(text, flush=True)


class Interrupted(Exception):
    """A signal asked the run to stop; cleanup still runs."""


class SimulationError(Exception):
    """The simulation could not go on (a node died, a command failed)."""


# --------------------------------------------------------------------------------------
# Cleanup: exactly what this run created, by name and by pid.
# --------------------------------------------------------------------------------------

class Registry:
    """The namespaces and processes this run created, removed again by cleanup()."""

    def __init__(self):
        self.namespaces = []
        self.processes = []

    def add_namespace(self, name):
        self.namespaces.append(name)

    def add_process(self, process):
        self.processes.append(process)

    def cleanup(self):
        # Finish cleaning even if another signal comes.
        previous = {s: signal.signal(s, signal.SIG_IGN)
                    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        try:
            for process in reversed(self.processes):
                stop_process(process)
            self.processes.clear()
            # Processes are gone, so deleting a namespace frees it (and its veths).
            for name in reversed(self.namespaces):
                result = subprocess.run(["ip", "netns", "delete", name],
                                        capture_output=True, text=True)
                if result.returncode != 0 and name in list_namespaces():
                    log(f"netsim: could not delete namespace {name}: {result.stderr.strip()}")
            self.namespaces.clear()
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)


def stop_process(process, grace_s=3.0):
    """Ends one process started by this run: EOF on stdin, then SIGTERM, then SIGKILL."""
    if process.poll() is None and process.stdin is not None:
        try:
            process.stdin.close()
        except OSError:
            pass
    for action in (None, process.terminate, process.kill):
        if process.poll() is not None:
            break
        if action is not None:
            action()
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            pass
    for stream in (process.stdin, process.stdout):
        if stream is not None:
            try:
                stream.close()
            except OSError:
                pass


def list_namespaces():
    result = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    return [line.split()[0] for line in result.stdout.splitlines() if line.strip()]


def run_ip_batch(commands, namespace=None, tool="ip"):
    """Runs ip (or tc) commands in one process; raises on the first failure."""
    argv = [tool] + (["-n", namespace] if namespace else []) + ["-batch", "-"]
    result = subprocess.run(argv, input="\n".join(commands) + "\n",
                            capture_output=True, text=True)
    if result.returncode != 0:
        where = f" in {namespace}" if namespace else ""
        raise SimulationError(f"{tool} failed{where}: {result.stderr.strip()}")


# --------------------------------------------------------------------------------------
# The emulated network
# --------------------------------------------------------------------------------------

class Network:
    """The hub with its two bridges, one namespace per node, and the links between."""

    def __init__(self, registry, run_id, halves, delays_ms, jitter_ms, loss_pct,
                 method, workdir, seed, attacker_addresses=0):
        self.registry = registry
        # With addresses, an attacker namespace joins half A's bridge directly.
        self.attacker_addresses = attacker_addresses
        self.prefix = f"netsim{run_id}-"
        self.hub = self.prefix + "hub"
        self.halves = halves  # halves[i] is "A" or "B"
        self.delays_ms = delays_ms
        self.jitter_ms = jitter_ms
        self.loss_pct = loss_pct
        self.method = method
        self.workdir = workdir
        self.seed = seed  # for the relay's jitter and loss

    def node_namespace(self, index):
        return f"{self.prefix}n{index}"

    @property
    def attacker_namespace(self):
        return f"{self.prefix}atk"

    def attacker_sources(self):
        """The attacker's addresses, ATTACKER_RANGE.0.1 up, as FIRST-LAST."""
        return f"{ATTACKER_RANGE}.0.1-{ATTACKER_RANGE}.0.{self.attacker_addresses}"

    def build(self):
        names = [self.hub] + [self.node_namespace(i) for i in range(len(self.halves))]
        if self.attacker_addresses:
            names.append(self.attacker_namespace)
        for name in names:
            # Registered first, so that a half-made namespace is deleted too.
            self.registry.add_namespace(name)
            added = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
            if added.returncode != 0:
                raise SimulationError(f"ip netns add {name} failed: {added.stderr.strip()}")
        if self.method == "auto":
            self.method = "netem" if self._hub_has_netem() else "relay"
        self._build_hub()
        for index in range(len(self.halves)):
            run_ip_batch([
                "link set lo up",
                f"link set {NODE_IFNAME} addrgenmode none",
                f"addr add {node_ip(index)}/{NODE_PREFIX_LEN} dev {NODE_IFNAME}",
                f"link set {NODE_IFNAME} up",
            ], namespace=self.node_namespace(index))
        if self.attacker_addresses:
            self._build_attacker()
        if self.method == "netem":
            self._add_netem()
        else:
            self._start_relay()

    def _build_attacker(self):
        run_ip_batch([
            f"link add {ATTACKER_IFNAME} type veth peer name {NODE_IFNAME} "
            f"netns {self.attacker_namespace}",
            f"link set {ATTACKER_IFNAME} addrgenmode none",
            f"link set {ATTACKER_IFNAME} master {BRIDGES['A']}",
            f"link set {ATTACKER_IFNAME} up",
        ], namespace=self.hub)
        addresses = [f"addr add {ATTACKER_RANGE}.0.{n}/{NODE_PREFIX_LEN} dev {NODE_IFNAME}"
                     for n in range(1, self.attacker_addresses + 1)]
        run_ip_batch(["link set lo up", f"link set {NODE_IFNAME} addrgenmode none"] + addresses
                     + [f"link set {NODE_IFNAME} up"], namespace=self.attacker_namespace)

    def _hub_has_netem(self):
        probe = subprocess.run(
            f"ip -n {self.hub} link add probe0 type veth peer name probe1 && "
            f"tc -n {self.hub} qdisc add dev probe0 root netem delay 1ms",
            shell=True, capture_output=True)
        subprocess.run(["ip", "-n", self.hub, "link", "del", "probe0"], capture_output=True)
        return probe.returncode == 0

    def _build_hub(self):
        # IPv6 stays off (addrgenmode none): no link-local chatter on the links.
        commands = ["link set lo up"]
        for half in ("A", "B"):
            commands += [f"link add {BRIDGES[half]} type bridge stp_state 0",
                         f"link set {BRIDGES[half]} addrgenmode none"]
        commands += [f"link add {INTER_HALF_ENDS['A']} type veth peer name {INTER_HALF_ENDS['B']}"]
        for half in ("A", "B"):
            end = INTER_HALF_ENDS[half]
            commands += [f"link set {end} addrgenmode none",
                         f"link set {end} master {BRIDGES[half]}"]
        for index, half in enumerate(self.halves):
            hub_end = f"n{index}"
            commands += [
                f"link add {hub_end} type veth peer name {NODE_IFNAME} "
                f"netns {self.node_namespace(index)}",
                f"link set {hub_end} addrgenmode none",
            ]
            if self.method == "netem":
                commands.append(f"link set {hub_end} master {BRIDGES[half]}")
            else:
                # The relay moves frames between n<i> and r<i>; p<i> is the bridge port.
                commands += [f"link add r{index} type veth peer name p{index}",
                             f"link set r{index} addrgenmode none",
                             f"link set p{index} addrgenmode none",
                             f"link set p{index} master {BRIDGES[half]}",
                             f"link set r{index} up", f"link set p{index} up"]
            commands.append(f"link set {hub_end} up")
        for half in ("A", "B"):
            commands += [f"link set {INTER_HALF_ENDS[half]} up", f"link set {BRIDGES[half]} up"]
        run_ip_batch(commands, namespace=self.hub)

    def _netem(self, device, delay_ms):
        rule = f"qdisc add dev {device} root netem delay {delay_ms:.3f}ms"
        if self.jitter_ms > 0:
            rule += f" {self.jitter_ms:.3f}ms"
        if self.loss_pct > 0:
            rule += f" loss {self.loss_pct:.3f}%"
        return rule

    def _add_netem(self):
        # Both ends: the node's egress and the hub's egress towards the node.
        run_ip_batch([self._netem(f"n{i}", d) for i, d in enumerate(self.delays_ms)],
                     namespace=self.hub, tool="tc")
        for index, delay in enumerate(self.delays_ms):
            run_ip_batch([self._netem(NODE_IFNAME, delay)],
                         namespace=self.node_namespace(index), tool="tc")

    def _start_relay(self):
        config = {
            "seed": self.seed,
            "links": [{"node_side": f"n{i}", "bridge_side": f"r{i}", "delay_ms": d,
                       "jitter_ms": self.jitter_ms, "loss_pct": self.loss_pct}
                      for i, d in enumerate(self.delays_ms)],
        }
        relay_log = open(os.path.join(self.workdir, "link-relay.log"), "w")
        relay = subprocess.Popen(
            ["ip", "netns", "exec", self.hub, sys.executable, os.path.abspath(__file__),
             "--link-relay"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=relay_log,
            start_new_session=True)
        relay_log.close()
        # It runs until its stdin closes: cleanup stops it with the nodes.
        self.registry.add_process(relay)
        relay.stdin.write((json.dumps(config) + "\n").encode())
        relay.stdin.flush()
        answer = relay.stdout.readline().decode().strip()
        if answer != "ready":
            raise SimulationError(f"link relay did not start ({answer or 'no answer'}); "
                                  f"see {relay_log.name}")

    def cut(self):
        run_ip_batch([f"link set {end} down" for end in INTER_HALF_ENDS.values()],
                     namespace=self.hub)

    def restore(self):
        run_ip_batch([f"link set {end} up" for end in INTER_HALF_ENDS.values()],
                     namespace=self.hub)


# --------------------------------------------------------------------------------------
# The link relay (runs in the hub namespace when the kernel has no netem)
# --------------------------------------------------------------------------------------

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_VNET_HDR = 15
PACKET_OUTGOING = 4
SO_RCVBUFFORCE = 33
# A frame with its virtio-net header; GSO frames reach 64 KiB.
MAX_FRAME = 256 * 1024


def run_link_relay():
    """Relays frames between each node's veth (n<i>) and its bridge port's veth (r<i>),
    holding each for the link's delay. Reads its configuration as one JSON line on
    stdin, answers "ready", and runs until stdin closes."""
    config = json.loads(sys.stdin.readline())
    rng = random.Random(config["seed"])
    selector = selectors.DefaultSelector()
    due = []  # heap of (time, sequence, socket, frame)
    sequence = 0
    forwarded = dropped = 0

    def open_socket(ifname):
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        # The virtio-net header carries checksum-offload and GSO state across, so
        # frames need no software checksums and may stay larger than the MTU.
        sock.setsockopt(SOL_PACKET, PACKET_VNET_HDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 8 * 1024 * 1024)
        sock.bind((ifname, ETH_P_ALL))
        sock.setblocking(False)
        return sock

    class Direction:
        def __init__(self, source, sink, link):
            self.source, self.sink = source, sink
            self.delay_s = link["delay_ms"] / 1000.0
            self.jitter_s = link["jitter_ms"] / 1000.0
            self.loss = link["loss_pct"] / 100.0
            self.last_due = 0.0

    for link in config["links"]:
        node_side = open_socket(link["node_side"])
        bridge_side = open_socket(link["bridge_side"])
        for source, sink in ((node_side, bridge_side), (bridge_side, node_side)):
            selector.register(source, selectors.EVENT_READ, Direction(source, sink, link))
    selector.register(sys.stdin, selectors.EVENT_READ, None)
    print("ready", flush=True)

    while True:
        timeout = max(0.0, due[0][0] - time.monotonic()) if due else None
        for key, _ in selector.select(timeout):
            direction = key.data
            if direction is None:
                if not sys.stdin.readline():
                    print(f"link relay: {forwarded} frames forwarded, {dropped} dropped",
                          file=sys.stderr)
                    return
                continue
            for _ in range(64):  # a bounded burst per socket keeps links fair
                try:
                    frame, address = direction.source.recvfrom(MAX_FRAME)
                except BlockingIOError:
                    break
                if address[2] == PACKET_OUTGOING:
                    continue  # our own transmission seen on the way out
                if direction.loss and rng.random() < direction.loss:
                    dropped += 1
                    continue
                at = time.monotonic() + direction.delay_s
                if direction.jitter_s:
                    at += rng.uniform(-direction.jitter_s, direction.jitter_s)
                # Jitter never reorders a link's frames.
                at = max(at, direction.last_due)
                direction.last_due = at
                sequence += 1
                heapq.heappush(due, (at, sequence, direction.sink, frame))
        now = time.monotonic()
        while due and due[0][0] <= now:
            _, _, sink, frame = heapq.heappop(due)
            try:
                sink.send(frame)
                forwarded += 1
            except OSError:
                dropped += 1  # a full queue drops, as a link would


# --------------------------------------------------------------------------------------
# Nodes
# --------------------------------------------------------------------------------------

class Node:
    """One node process and everything it reported."""

    def __init__(self, index, half, namespace, delay_ms):
        self.name = f"n{index}"
        self.half = half
        self.namespace = namespace
        self.ip = node_ip(index)
        self.delay_ms = delay_ms
        self.process = None
        self.pending = b""
        self.exited = None  # exit code once the process has ended
        self.ready = False
        self.tip_id = None
        self.tip_since = None        # when the current tip became the tip
        self.block_times = {}        # block id -> when it first became the tip
        self.tx_times = {}           # tx id -> when it entered the pool
        self.mined = []              # (height, id, t) answers to `mine`
        self.created = []            # (tx id, t) answers to `tx`
        self.reorgs = []             # (fork height, old height, new height, t)
        self.connections = {}        # peer id -> (ip, inbound, t)
        # ("connect", ip, inbound, t, kind) or ("disconnect", ip, inbound, t, reason)
        self.connection_log = []
        self.peers_in = 0
        self.peers_out = 0
        self.status = None           # the last status answer
        self.health_log = []         # (stale tip, partition signal, t) on every change
        self.status_answers = 0
        self.peer_lines = []         # peer lines of the listing being received
        self.peer_list = []          # the last complete listing
        self.peer_lists = 0
        self.errors = []

    def send(self, command):
        try:
            self.process.stdin.write((command + "\n").encode())
            self.process.stdin.flush()
        except (BrokenPipeError, OSError) as error:
            raise SimulationError(f"{self.name} does not take commands: {error}") from error

    def handle(self, line):
        parts = line.split()
        try:
            kind, fields, t = parts[0], parts[1:-1], int(parts[-1])
        except (IndexError, ValueError):
            self.errors.append(f"unreadable line: {line!r}")
            return
        if kind == "ready":
            self.ready = True
        elif kind == "tip":
            self.tip_id, self.tip_since = fields[1], t
            self.block_times.setdefault(fields[1], t)
        elif kind == "mined":
            self.mined.append((int(fields[0]), fields[1], t))
        elif kind == "reorg":
            self.reorgs.append((int(fields[0]), int(fields[1]), int(fields[2]), t))
        elif kind == "tx":
            self.tx_times.setdefault(fields[0], t)
        elif kind == "created":
            self.created.append((fields[0], t))
        elif kind == "connect":
            ip = fields[1].rsplit(":", 1)[0]
            inbound = fields[2] == "in"
            self.connections[fields[0]] = (ip, inbound, t)
            self.connection_log.append(("connect", ip, inbound, t, fields[3]))
        elif kind == "disconnect":
            known = self.connections.pop(fields[0], None)
            ip = fields[1].rsplit(":", 1)[0]
            inbound = known[1] if known else None
            self.connection_log.append(("disconnect", ip, inbound, t, fields[2]))
        elif kind == "peers":
            self.peers_in, self.peers_out = int(fields[0]), int(fields[1])
        elif kind == "status":
            self.status = {"height": int(fields[0]), "tip": fields[1], "in": int(fields[2]),
                           "out": int(fields[3]), "addresses": int(fields[4]),
                           "outbound_filled": int(fields[5]), "outbound_target": int(fields[6]),
                           "stale_tip": fields[7] == "1", "partition": fields[8], "t": t}
            self.status_answers += 1
        elif kind == "health":
            self.health_log.append((fields[0] == "1", fields[1], t))
        elif kind == "peer":
            self.peer_lines.append({"ip": fields[1].rsplit(":", 1)[0],
                                    "inbound": fields[2] == "in", "kind": fields[3],
                                    "ping_us": None if fields[4] == "-" else int(fields[4])})
        elif kind == "peer-list":
            self.peer_list, self.peer_lines = self.peer_lines, []
            self.peer_lists += 1
        elif kind == "error":
            self.errors.append(" ".join(fields))


class Simulation:
    """Starts nodes in a Network, reads their events and waits for conditions."""

    def __init__(self, network, registry, args, rng, node_args):
        self.network = network
        self.registry = registry
        self.args = args
        self.rng = rng
        self.node_args = node_args
        self.nodes = [Node(i, half, network.node_namespace(i), network.delays_ms[i])
                      for i, half in enumerate(network.halves)]
        self.by_ip = {node.ip: node for node in self.nodes}
        self.selector = selectors.DefaultSelector()

    # ---- processes ------------------------------------------------------------------

    def start_nodes(self, extra_args=None):
        """Starts the nodes in waves ({0}, {1}, {2,3}, {4..7}, ...), all of a wave at
        once; each node's --peer names 2-3 nodes of earlier waves, which already
        listen, since AddPeer dials once and a refused dial is not retried.
        `extra_args` maps a node to arguments of its own."""
        extra_args = extra_args or {}
        first = 0
        while first < len(self.nodes):
            wave = self.nodes[first:max(first * 2, first + 1)]
            for node in wave:
                candidates = list(range(first))
                peers = self.rng.sample(candidates, min(self.rng.choice((2, 3)), len(candidates)))
                self._spawn(node, [node_ip(p) for p in peers], extra_args.get(node, []))
            if not self.wait_until(lambda: all(n.ready for n in wave), 30):
                late = [n.name for n in wave if not n.ready]
                raise SimulationError(f"nodes not ready after 30 s: {', '.join(late)}")
            first += len(wave)

    def restart(self, node, extra_args):
        """Stops `node`, then starts it again on the same data directory with no --peer;
        returns the new Node, which replaces the old one."""
        node.send("quit")
        if not self.wait_until(lambda: node.exited is not None, 30, allow_exit=True):
            raise SimulationError(f"{node.name} did not stop within 30 s")
        if node.exited != 0:
            raise SimulationError(f"{node.name} exited with code {node.exited} when stopped")
        index = self.nodes.index(node)
        fresh = Node(index, node.half, node.namespace, node.delay_ms)
        self.nodes[index] = fresh
        self.by_ip[fresh.ip] = fresh
        self._spawn(fresh, [], extra_args)
        if not self.wait_until(lambda: fresh.ready, 30):
            raise SimulationError(f"{fresh.name} not ready within 30 s of its restart")
        return fresh

    def start_attacker(self, target, duration_s):
        """Runs eclipse_attacker.py in the attacker namespace against `target`."""
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "eclipse_attacker.py")
        with open(os.path.join(self.network.workdir, "attacker.log"), "w") as out:
            attacker = subprocess.Popen(
                ["ip", "netns", "exec", self.network.attacker_namespace, sys.executable, script,
                 "--target", f"{target.ip}:{LISTEN_PORT}",
                 "--sources", self.network.attacker_sources(), "--duration", str(duration_s)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)
        self.registry.add_process(attacker)
        return attacker

    def peer_listing(self, node):
        """The node's peers now (asks it)."""
        self.ask_all("peers", lambda n: n.peer_lists, nodes=[node])
        return node.peer_list

    def _spawn(self, node, peer_ips, extra_args=()):
        datadir = os.path.join(self.network.workdir, node.name)
        os.makedirs(datadir, exist_ok=True)
        argv = ["ip", "netns", "exec", node.namespace, self.args.node_binary,
                "--name", node.name, "--listen", f"{node.ip}:{LISTEN_PORT}",
                "--datadir", datadir, "--log", self.args.log]
        for ip in peer_ips:
            argv += ["--peer", f"{ip}:{LISTEN_PORT}"]
        argv += self.node_args + list(extra_args)
        with open(os.path.join(self.network.workdir, f"{node.name}.log"), "a") as stderr:
            # A session of its own: a terminal's Ctrl-C reaches netsim, which stops it.
            node.process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                            stderr=stderr, start_new_session=True)
        self.registry.add_process(node.process)
        os.set_blocking(node.process.stdout.fileno(), False)
        self.selector.register(node.process.stdout, selectors.EVENT_READ, node)

    def stop_nodes(self):
        """Asks every started node to quit; returns the nodes that did not exit with 0."""
        started = [node for node in self.nodes if node.process is not None]
        for node in started:
            if node.exited is None:
                try:
                    node.send("quit")
                except SimulationError:
                    pass  # already gone: its exit code tells
        self.wait_until(lambda: all(n.exited is not None for n in started), 30,
                        allow_exit=True)
        failed = []
        for node in started:
            if node.exited is None:
                stop_process(node.process)
                node.exited = node.process.returncode
            if node.exited != 0:
                failed.append(node)
        return failed

    # ---- events ---------------------------------------------------------------------

    def pump(self, timeout, allow_exit=False):
        """Reads whatever the nodes printed within `timeout` seconds."""
        for key, _ in self.selector.select(timeout):
            node = key.data
            chunk = os.read(key.fd, 65536)
            if not chunk:
                self.selector.unregister(key.fileobj)
                node.exited = node.process.wait()
                if not allow_exit:
                    raise SimulationError(
                        f"{node.name} exited with code {node.exited}; its log: "
                        f"{os.path.join(self.network.workdir, node.name + '.log')}")
                continue
            node.pending += chunk
            *lines, node.pending = node.pending.split(b"\n")
            for line in lines:
                node.handle(line.decode(errors="replace"))

    def wait_until(self, condition, timeout_s, allow_exit=False):
        """Waits for `condition()` while handling events; False after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while not condition():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.pump(min(left, 1.0), allow_exit)
        return True

    def ask_all(self, command, answers_of, nodes=None, timeout_s=15):
        """Sends a command to nodes and waits for each one's answer."""
        nodes = self.nodes if nodes is None else nodes
        before = {node: answers_of(node) for node in nodes}
        for node in nodes:
            node.send(command)
        if not self.wait_until(lambda: all(answers_of(n) > before[n] for n in nodes), timeout_s):
            raise SimulationError(f"no answer to '{command}' within {timeout_s} s")

    def mine(self, node):
        """Mines a block at `node`; returns (height, id, t)."""
        count = len(node.mined)
        node.send("mine")
        if not self.wait_until(lambda: len(node.mined) > count, 15):
            raise SimulationError(f"{node.name} did not mine within 15 s")
        return node.mined[count]

    def create_tx(self, node):
        """Creates a transaction at `node`; returns (id, t)."""
        count = len(node.created)
        node.send("tx")
        if not self.wait_until(lambda: len(node.created) > count, 15):
            raise SimulationError(f"{node.name} did not create a transaction within 15 s")
        return node.created[count]

    # ---- derived figures ------------------------------------------------------------

    def connectivity(self):
        """Connection and address book figures of every node (asks for status)."""
        self.ask_all("status", lambda n: n.status_answers)
        totals = [n.status["in"] + n.status["out"] for n in self.nodes]
        outbound = [n.status["out"] for n in self.nodes]
        addresses = [n.status["addresses"] for n in self.nodes]
        unfilled = [n for n in self.nodes
                    if n.status["outbound_filled"] < n.status["outbound_target"]]
        return {"connections": summary(totals), "outbound": summary(outbound),
                "address_book": summary(addresses),
                "nodes_with_free_outbound_slots": len(unfilled),
                "per_node": {n.name: {key: n.status[key] for key in
                                      ("height", "in", "out", "addresses", "outbound_filled",
                                       "outbound_target", "stale_tip", "partition")}
                             for n in self.nodes}}

    def cross_half_ends(self, outbound_only=False):
        """Open connection ends whose peer is in the other half. Counting outbound ends
        only counts each connection once; counting all ends includes connections that
        one side has closed and the other has not noticed yet."""
        count = 0
        for node in self.nodes:
            for ip, inbound, _ in node.connections.values():
                peer = self.by_ip.get(ip)
                if peer is not None and peer.half != node.half and not (outbound_only and inbound):
                    count += 1
        return count

    def link_check(self):
        """Compares each connection's ping round trip with the emulated 2(d_i + d_j)."""
        self.ask_all("peers", lambda n: n.peer_lists)
        ratios, extra_ms, too_fast = [], [], []
        # A path crosses four link ends per round trip, each of which may be early.
        slack_ms = 4 * self.args.jitter_ms + 1.0
        for node in self.nodes:
            for peer in node.peer_list:
                other = self.by_ip.get(peer["ip"])
                if other is None or peer["ping_us"] is None:
                    continue
                expected = 2 * (node.delay_ms + other.delay_ms)
                measured = peer["ping_us"] / 1000.0
                ratios.append(measured / expected)
                extra_ms.append(measured - expected)
                if measured < expected - slack_ms:
                    too_fast.append(f"{node.name}->{other.name} {measured:.1f} ms "
                                    f"< {expected:.1f} ms")
        return {"samples": len(ratios), "ratio": summary(ratios),
                "extra_ms": summary(extra_ms), "faster_than_emulated": too_fast}


# --------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------

def percentile(values, q):
    """The q-th percentile, interpolating between the nearest ranks."""
    ordered = sorted(values)
    if not ordered:
        return None
    position = (len(ordered) - 1) * q / 100.0
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summary(values):
    if not values:
        return {"count": 0}
    return {"count": len(values), "min": min(values), "p50": percentile(values, 50),
            "p90": percentile(values, 90), "max": max(values)}


def fmt(value, unit="", digits=0):
    return "-" if value is None else f"{value:.{digits}f}{unit}"


def fmt_summary(s, unit="", digits=0):
    if not s or s.get("count", 0) == 0:
        return "no samples"
    return (f"min {fmt(s['min'], unit, digits)}, p50 {fmt(s['p50'], unit, digits)}, "
            f"p90 {fmt(s['p90'], unit, digits)}, max {fmt(s['max'], unit, digits)} "
            f"(n={s['count']})")


def ms_between(start_ns, end_ns):
    return (end_ns - start_ns) / 1e6


class Checks:
    """The pass/fail conditions of a scenario, with what was observed."""

    def __init__(self):
        self.items = []

    def add(self, name, passed, detail):
        self.items.append({"name": name, "passed": bool(passed), "detail": detail})
        log(f"  [{'PASS' if passed else 'FAIL'}] {name}: {detail}")

    @property
    def passed(self):
        return all(item["passed"] for item in self.items)


# --------------------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------------------

def wait_for_connections(sim, checks, args):
    start = time.monotonic()
    enough = sim.wait_until(
        lambda: all(n.peers_in + n.peers_out >= args.min_connections for n in sim.nodes),
        args.connect_timeout_s)
    waited = time.monotonic() - start
    fewest = min(n.peers_in + n.peers_out for n in sim.nodes)
    checks.add("connections", enough,
               f"every node has >= {args.min_connections} peers after {waited:.1f} s"
               if enough else f"after {args.connect_timeout_s} s the least connected node "
               f"has {fewest} peers (wanted {args.min_connections})")
    return waited


def measure_spread(sim, origin, item_id, t0, times_of, timeout_s):
    """Waits until every node has an item; returns its spread figures."""
    others = [n for n in sim.nodes if n is not origin]
    reached_all = sim.wait_until(lambda: all(item_id in times_of(n) for n in others), timeout_s)
    arrivals = [ms_between(t0, times_of(n)[item_id]) for n in others if item_id in times_of(n)]
    return {"id": item_id, "origin": origin.name, "reached": len(arrivals) + 1,
            "reached_all": reached_all,
            "to_first_ms": min(arrivals) if arrivals else None,
            "to_all_ms": max(arrivals) if reached_all and arrivals else None}


def spread_report(kind, items, nodes):
    to_all = [i["to_all_ms"] for i in items if i["to_all_ms"] is not None]
    to_first = [i["to_first_ms"] for i in items if i["to_first_ms"] is not None]
    figures = {"items": items, "to_all_ms": summary(to_all), "to_first_ms": summary(to_first)}
    log(f"  {kind}: {len(items)}, reached all {nodes} nodes: "
        f"{sum(1 for i in items if i['reached_all'])}")
    log(f"    time to all nodes:       {fmt_summary(figures['to_all_ms'], ' ms')}")
    log(f"    time to first other node: {fmt_summary(figures['to_first_ms'], ' ms')}")
    return figures


def spread_items(sim, count, make_item, times_of, timeout_s):
    """Makes `count` items one at a time, each at a random node, and waits until every
    node has each; stops at the first that does not get everywhere in time."""
    items = []
    for _ in range(count):
        origin = sim.rng.choice(sim.nodes)
        item_id, t0 = make_item(origin)
        items.append(measure_spread(sim, origin, item_id, t0, times_of, timeout_s))
        if not items[-1]["reached_all"]:
            break
    return items


def run_propagation(sim, args, checks, result):
    log(f"== propagation: {len(sim.nodes)} nodes")
    sim.start_nodes()
    result["connect_wait_s"] = wait_for_connections(sim, checks, args)
    result["connectivity_at_start"] = sim.connectivity()
    print_connectivity(result["connectivity_at_start"])

    blocks = spread_items(sim, args.blocks, lambda n: sim.mine(n)[1:],
                          lambda n: n.block_times, args.item_timeout_s)
    txs = spread_items(sim, args.txs, sim.create_tx, lambda n: n.tx_times,
                       args.item_timeout_s)
    log("  propagation figures:")
    result["blocks"] = spread_report("blocks", blocks, len(sim.nodes))
    result["txs"] = spread_report("transactions", txs, len(sim.nodes))
    result["connectivity_at_end"] = sim.connectivity()
    print_connectivity(result["connectivity_at_end"], "at the end")
    result["link_check"] = sim.link_check()
    print_link_check(result["link_check"])

    for kind, items, wanted in (("blocks", blocks, args.blocks),
                                ("transactions", txs, args.txs)):
        reached = sum(1 for item in items if item["reached_all"])
        checks.add(f"{kind} reached every node", reached == wanted,
                   f"{reached} of {wanted} within {args.item_timeout_s:g} s each"
                   + ("" if len(items) == wanted else "; the rest were not sent"))
    add_link_check(checks, result["link_check"])


def run_partition(sim, args, checks, result):
    half_a = [n for n in sim.nodes if n.half == "A"]
    half_b = [n for n in sim.nodes if n.half == "B"]
    log(f"== partition: {len(sim.nodes)} nodes, half A {len(half_a)}, half B {len(half_b)}")
    sim.start_nodes()
    result["connect_wait_s"] = wait_for_connections(sim, checks, args)
    result["connectivity_at_start"] = sim.connectivity()
    print_connectivity(result["connectivity_at_start"])
    crossing = sim.cross_half_ends(outbound_only=True)
    result["cross_half_connections_before_cut"] = crossing
    checks.add("connections across the halves before the cut", crossing > 0,
               f"{crossing} connection(s)")

    # One block everyone has: the network works before it is cut.
    base_miner = sim.rng.choice(sim.nodes)
    _, base_id, t0 = sim.mine(base_miner)
    base = measure_spread(sim, base_miner, base_id, t0, lambda n: n.block_times,
                          args.item_timeout_s)
    checks.add("a block before the cut reached every node", base["reached_all"],
               f"{base['reached']} of {len(sim.nodes)} nodes")

    log("  cutting the inter-half link")
    cut_ns = time.monotonic_ns()
    sim.network.cut()
    mined = mine_in_halves(sim, args, {"A": half_a, "B": half_b},
                           {"A": args.half_a_blocks, "B": args.half_b_blocks})
    tips = {half: {n.tip_id for n in members} for half, members in (("A", half_a), ("B", half_b))}
    checks.add("each half agrees on its own tip during the cut",
               len(tips["A"]) == 1 and len(tips["B"]) == 1,
               f"half A: {len(tips['A'])} tip(s), half B: {len(tips['B'])} tip(s)")
    leaked = [n.name for n in half_b if any(b in n.block_times for b in mined["A"])] + \
             [n.name for n in half_a if any(b in n.block_times for b in mined["B"])]
    checks.add("no block crossed the cut", not leaked,
               "none" if not leaked else "seen across: " + ", ".join(leaked))

    # Connections across the cut die only by the inactivity timeout; recovery then
    # needs new ones.
    death_deadline_s = (args.inactivity_timeout_ms + 2 * args.ping_interval_ms) / 1000 + 10
    died = sim.wait_until(lambda: sim.cross_half_ends() == 0, death_deadline_s)
    died_s = (time.monotonic_ns() - cut_ns) / 1e9
    result["cross_half_connections_dead_after_s"] = died_s if died else None
    checks.add("connections across the cut timed out", died,
               f"none left {died_s:.1f} s after the cut" if died else
               f"{sim.cross_half_ends()} connection end(s) still open {died_s:.1f} s "
               "after the cut")
    # A longer cut lets the halves fill their outbound slots among themselves, as in a
    # long partition; events go on being read meanwhile.
    sim.wait_until(lambda: time.monotonic_ns() - cut_ns >= args.cut_s * 1e9, args.cut_s)
    result["connectivity_during_cut"] = sim.connectivity()
    print_connectivity(result["connectivity_during_cut"], "during the cut")
    result["health_flags_during_cut"] = report_health_flags(sim.nodes, cut_ns)
    flagged = [n.name for n in sim.nodes
               if any(t >= cut_ns and signal_name != "none" for _, signal_name, t in n.health_log)]
    checks.add("the engine suspected a partition during the cut", bool(flagged),
               f"{len(flagged)} of {len(sim.nodes)} nodes raised a partition signal")

    cut_s = (time.monotonic_ns() - cut_ns) / 1e9
    log(f"  restoring the inter-half link after {cut_s:.1f} s")
    heal_ns = time.monotonic_ns()
    sim.network.restore()
    a_tip = mined["A"][-1]
    converged = sim.wait_until(lambda: all(n.tip_id == a_tip for n in sim.nodes),
                               args.convergence_bound_s)
    waited_s = (time.monotonic_ns() - heal_ns) / 1e9
    on_a = [n for n in sim.nodes if n.tip_id == a_tip]
    convergence_s = (max(n.tip_since for n in half_b) - heal_ns) / 1e9 if converged else None
    new_crossing = sorted(
        (t, node.name, kind) for node in sim.nodes
        for what, ip, inbound, t, kind in node.connection_log
        if what == "connect" and t > heal_ns and not inbound
        and ip in sim.by_ip and sim.by_ip[ip].half != node.half)
    crossing_kinds = {}
    for _, _, kind in new_crossing:
        crossing_kinds[kind] = crossing_kinds.get(kind, 0) + 1
    first_crossing_s = (new_crossing[0][0] - heal_ns) / 1e9 if new_crossing else None
    result.update({
        "cut_duration_s": cut_s,
        "blocks_mined_during_cut": {"A": len(mined["A"]), "B": len(mined["B"])},
        "converged": converged,
        "convergence_s": convergence_s,
        "convergence_bound_s": args.convergence_bound_s,
        "nodes_on_a_tip": len(on_a),
        "new_cross_half_connections": len(new_crossing),
        "first_new_cross_half_connection_s": first_crossing_s,
        "new_cross_half_connections_by": sorted({name for _, name, _ in new_crossing}),
        "new_cross_half_connections_by_kind": crossing_kinds,
        "reorganised_nodes": sum(1 for n in half_b if any(r[3] > heal_ns for r in n.reorgs)),
        "health_flags_after_heal": report_health_flags(sim.nodes, heal_ns),
        "connectivity_after_heal": sim.connectivity(),
    })
    log(f"  after the link came back: {len(new_crossing)} new connection(s) across the halves"
        + (f" ({', '.join(f'{n} {k}' for k, n in sorted(crossing_kinds.items()))}), the "
           f"first after {first_crossing_s:.1f} s ({new_crossing[0][2]}), dialled by "
           f"{', '.join(result['new_cross_half_connections_by'])}" if new_crossing else ""))
    print_connectivity(result["connectivity_after_heal"], "after the heal")
    if converged:
        log(f"  converged: every node on half A's tip {convergence_s:.1f} s after the link "
            f"came back ({result['reorganised_nodes']} half-B nodes reorganised)")
    else:
        log(f"  NOT converged: {len(on_a)} of {len(sim.nodes)} nodes on half A's tip "
            f"{waited_s:.1f} s after the link came back")
    checks.add("every node reached half A's tip within the bound", converged,
               f"{convergence_s:.1f} s (bound {args.convergence_bound_s:g} s)" if converged
               else f"{len(on_a)} of {len(sim.nodes)} nodes after "
               f"{args.convergence_bound_s:g} s")
    result["link_check"] = sim.link_check()
    print_link_check(result["link_check"])
    add_link_check(checks, result["link_check"])


def run_eclipse(sim, args, checks, result):
    """One node (the victim, started last so that it has outbound peers) is attacked
    from one /16: its inbound slots fill with the attacker's connections and it is
    flooded with the attacker's addresses. Its block-relay-only peers must stay, blocks
    must keep reaching it, and after a restart with its address book gone its anchors
    must bring those same peers back."""
    victim = sim.nodes[-1]
    honest = sim.nodes[:-1]
    # Few full-relay slots, so that a small network leaves addresses for the
    # block-relay-only ones (they are filled after the full-relay target, as in Core).
    victim_args = ["--max-inbound", str(args.victim_max_inbound), "--max-outbound", "2"]
    log(f"== eclipse: {len(sim.nodes)} nodes, victim {victim.name} ({victim.ip}, "
        f"{args.victim_max_inbound} inbound slots), attacker {args.attacker_addresses} "
        f"addresses in {ATTACKER_RANGE}.0.0/16")
    sim.start_nodes({victim: victim_args})
    result["connect_wait_s"] = wait_for_connections(sim, checks, args)

    def block_relay_ips(node):
        return {p["ip"] for p in sim.peer_listing(node) if p["kind"] == "block-relay"}

    def poll(condition, timeout_s):
        """Asks the victim again each second until `condition()`."""
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() >= deadline:
                return False
            sim.wait_until(lambda: False, 1.0)
        return True

    slots = poll(lambda: len(block_relay_ips(victim)) >= 2, args.connect_timeout_s)
    anchors = block_relay_ips(victim)
    result["block_relay_peers_before"] = sorted(anchors)
    checks.add("the victim has its block-relay-only peers", slots,
               ", ".join(sorted(anchors)) or "none")

    attack_ns = time.monotonic_ns()
    attacker = sim.start_attacker(victim, args.attack_s)

    def inbound_counts():
        listing = sim.peer_listing(victim)
        return (sum(1 for p in listing if p["inbound"]),
                sum(1 for p in listing
                    if p["inbound"] and p["ip"].startswith(ATTACKER_RANGE + ".")))

    # Pressure: the inbound slots are full (one may be changing hands) and the attacker
    # holds at least a quarter of them. Eviction makes the attacker's own connections
    # give way first once they crowd one network group, so it holds more of them the
    # fewer honest peers connected to the victim before the attack.
    full = max(args.victim_max_inbound - 1, 1)
    under_pressure = poll(lambda: (lambda c: c[0] >= full and 4 * c[1] >= full)(
        inbound_counts()), 30)
    inbound, attacker_inbound = inbound_counts()
    result["inbound_during_attack"] = {"attacker": attacker_inbound, "all": inbound}
    log(f"  under attack: {attacker_inbound} of the victim's {inbound} inbound peers are the "
        f"attacker's ({(time.monotonic_ns() - attack_ns) / 1e9:.1f} s into the attack)")
    checks.add("the victim's inbound slots are full, a quarter or more the attacker's",
               under_pressure, f"{attacker_inbound} of {inbound} inbound peers "
               f"({args.victim_max_inbound} slots)")

    blocks = []
    for _ in range(args.eclipse_blocks):
        origin = sim.rng.choice(honest)
        _, block_id, t0 = sim.mine(origin)
        # Every node, so that the next block builds on this one (a block on a tip the
        # victim already has at that height would never become its tip).
        sim.wait_until(lambda: all(block_id in n.block_times for n in sim.nodes),
                       args.item_timeout_s)
        got = block_id in victim.block_times
        blocks.append(ms_between(t0, victim.block_times[block_id]) if got else None)
    result["block_delay_to_victim_ms"] = blocks
    checks.add("blocks reach the victim during the attack", None not in blocks,
               ", ".join("lost" if b is None else f"{b:.0f} ms" for b in blocks))
    kept = block_relay_ips(victim)
    checks.add("the victim keeps its block-relay-only peers under attack",
               bool(anchors) and anchors <= kept,
               f"before {sorted(anchors)}, now {sorted(kept)}")

    # A restart with the address book gone (the attacker's flood at its worst): only
    # the anchors saved at stop can bring honest peers back.
    book = os.path.join(sim.network.workdir, victim.name, "peers.dat")
    if os.path.exists(book):
        os.remove(book)
    restart_ns = time.monotonic_ns()
    victim = sim.restart(victim, victim_args)
    back = poll(lambda: block_relay_ips(victim) >= anchors, args.connect_timeout_s)
    outbound = [(kind, ip) for what, ip, inbound, _, kind in victim.connection_log
                if what == "connect" and not inbound]
    first_block_relay = [ip for kind, ip in outbound if kind == "block-relay"][:len(anchors)]
    result["outbound_after_restart"] = outbound
    checks.add("after a restart the anchors are the victim's block-relay-only peers again",
               bool(anchors) and back and set(first_block_relay) == anchors,
               f"outbound connections in the order they came up: {outbound[:5]}")
    # The restarted victim syncs the chain from its anchors; a new block must reach it
    # as well.
    origin = sim.rng.choice(honest)
    _, block_id, t0 = sim.mine(origin)
    got = sim.wait_until(lambda: block_id in victim.block_times, args.item_timeout_s)
    checks.add("a block reaches the restarted victim through its anchors", got,
               f"{ms_between(t0, victim.block_times[block_id]):.0f} ms" if got else "lost")
    result["restart_to_anchors_s"] = (time.monotonic_ns() - restart_ns) / 1e9
    still_attacking = attacker.poll() is None
    checks.add("the attack lasted the whole scenario", still_attacking,
               "running" if still_attacking else f"attacker exited with {attacker.returncode}")
    stop_process(attacker)
    with open(os.path.join(sim.network.workdir, "attacker.log")) as attack_log:
        progress = [line.split() for line in attack_log if line.startswith("attack ")]
    if progress:
        _, _, handshakes, floods = progress[-1]
        result["attacker_handshakes"], result["attacker_addr_messages"] = int(handshakes), \
            int(floods)
        log(f"  the attacker completed {handshakes} handshakes and sent {floods} addr "
            "messages of 1,000 addresses")


def mine_in_halves(sim, args, members_of, blocks_of):
    """Mines each half's blocks, alternating between the halves, one block at a time at
    a random node of the half, each awaited by the whole half; returns the block ids."""
    mined = {half: [] for half in members_of}
    for round_index in range(max(blocks_of.values())):
        for half, members in members_of.items():
            if round_index >= blocks_of[half]:
                continue
            _, block_id, _ = sim.mine(sim.rng.choice(members))
            mined[half].append(block_id)
            sim.wait_until(lambda: all(block_id in n.block_times for n in members),
                           args.item_timeout_s)
    return mined


def report_health_flags(nodes, since_ns):
    """Prints and returns how many nodes the engine flagged since `since_ns`, by flag."""
    stale = {n.name for n in nodes
             for is_stale, _, t in n.health_log if t >= since_ns and is_stale}
    signals = {}
    for node in nodes:
        for _, signal_name, t in node.health_log:
            if t >= since_ns and signal_name != "none":
                signals.setdefault(signal_name, set()).add(node.name)
    flags = {"stale_tip": len(stale)}
    flags.update({f"partition_{name}": len(names) for name, names in sorted(signals.items())})
    log("  engine health flags reported: " +
        ", ".join(f"{name.replace('_', ' ')} at {count} node(s)" for name, count in flags.items()))
    return flags


def print_connectivity(figures, when="before the test"):
    log(f"  connectivity {when}: peers per node {fmt_summary(figures['connections'])}; "
        f"outbound {fmt_summary(figures['outbound'])}; "
        f"{figures['nodes_with_free_outbound_slots']} node(s) with free outbound slots; "
        f"address book {fmt_summary(figures['address_book'])}")


def print_link_check(figures):
    log(f"  link check: {figures['samples']} ping samples, measured minus emulated round "
        f"trip {fmt_summary(figures['extra_ms'], ' ms', 1)}")


def add_link_check(checks, figures):
    too_fast = figures["faster_than_emulated"]
    checks.add("links delay as configured", figures["samples"] > 0 and not too_fast,
               f"{figures['samples']} ping round trips, none faster than emulated"
               if figures["samples"] and not too_fast else
               ("no ping samples" if not figures["samples"] else
                f"{len(too_fast)} faster than emulated, e.g. {too_fast[0]}"))


SCENARIOS = {"propagation": run_propagation, "partition": run_partition,
             "eclipse": run_eclipse}
DEFAULT_NODES = {"propagation": 40, "partition": 30, "eclipse": 20}


def run_scenario(name, args, registry, seed):
    rng = random.Random(f"{seed}:{name}")
    count = args.nodes or DEFAULT_NODES[name]
    # Node i's delay on each end of its link: one-way between i and j is d_i + d_j.
    delays = [rng.uniform(args.delay_min_ms / 2, args.delay_max_ms / 2) for _ in range(count)]
    halves = ["A" if i < (count + 1) // 2 else "B" for i in range(count)]
    # Short pings keep the link check's round trips recent (not those of the busy
    # start) and let connections across a cut time out within the scenario.
    node_args = ["--ping-interval-ms", str(args.ping_interval_ms),
                 "--inactivity-timeout-ms", str(args.inactivity_timeout_ms)] + args.node_arg
    workdir = tempfile.mkdtemp(prefix=f"netsim-{name}-", dir=args.workdir)
    if name == "eclipse":
        halves = ["A"] * count
    attacker = args.attacker_addresses if name == "eclipse" else 0
    network = Network(registry, os.getpid(), halves, delays, args.jitter_ms, args.loss_pct,
                      args.delay_method, workdir, rng.getrandbits(32), attacker)
    result = {"scenario": name, "nodes": count, "seed": seed,
              "delay_ms_per_link_end": summary(delays)}
    checks = Checks()
    started = time.monotonic()
    try:
        network.build()
        result["link_emulation"] = network.method
        log(f"netsim {name}: {count} nodes, one-way delays {args.delay_min_ms:g}-"
            f"{args.delay_max_ms:g} ms ({network.method}), jitter {args.jitter_ms:g} ms, "
            f"loss {args.loss_pct:g}% per link end, seed {seed}, logs in {workdir}")
        sim = Simulation(network, registry, args, rng, node_args)
        try:
            SCENARIOS[name](sim, args, checks, result)
        except SimulationError as error:
            checks.add("scenario ran to the end", False, str(error))
        failed = sim.stop_nodes()
        checks.add("nodes stopped cleanly", not failed,
                   "all exited with 0" if not failed else
                   ", ".join(f"{n.name}: {n.exited}" for n in failed))
        errors = [f"{n.name}: {e}" for n in sim.nodes for e in n.errors]
        if errors:
            checks.add("nodes understood every command", False, errors[0])
    except SimulationError as error:
        checks.add("network set up", False, str(error))
    finally:
        registry.cleanup()
    result["duration_s"] = time.monotonic() - started
    result["checks"] = checks.items
    result["passed"] = checks.passed
    log(f"netsim {name}: {'PASSED' if checks.passed else 'FAILED'} "
        f"in {result['duration_s']:.1f} s")
    if checks.passed and not args.keep_workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        log(f"  node logs kept in {workdir}")
    return result


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------

def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Runs p2pnet nodes in network namespaces on an emulated network and "
                    "measures block and transaction propagation or partition recovery.")
    parser.add_argument("--scenario", choices=["propagation", "partition", "eclipse", "all"],
                        default="all")
    parser.add_argument("--node-binary", required=True, help="path of p2pnet_netsim_node")
    parser.add_argument("--nodes", type=int,
                        help="nodes (default: 40 for propagation, 30 for partition, 20 for eclipse)")
    parser.add_argument("--delay-min-ms", type=float, default=20.0,
                        help="shortest one-way delay between two nodes (default 20)")
    parser.add_argument("--delay-max-ms", type=float, default=150.0,
                        help="longest one-way delay between two nodes (default 150)")
    parser.add_argument("--jitter-ms", type=float, default=0.0,
                        help="delay jitter on each link end (default 0)")
    parser.add_argument("--loss-pct", type=float, default=0.0,
                        help="frame loss on each link end, percent (default 0)")
    parser.add_argument("--delay-method", choices=["auto", "netem", "relay"], default="auto",
                        help="netem qdiscs, or a userspace relay for kernels without netem "
                             "(default auto: netem when available)")
    parser.add_argument("--blocks", type=int, default=10, help="blocks to propagate (default 10)")
    parser.add_argument("--txs", type=int, default=10,
                        help="transactions to propagate (default 10)")
    parser.add_argument("--half-a-blocks", type=int, default=4,
                        help="blocks mined in half A during the partition (default 4)")
    parser.add_argument("--half-b-blocks", type=int, default=2,
                        help="blocks mined in half B during the partition (default 2)")
    parser.add_argument("--ping-interval-ms", type=int, default=5000,
                        help="nodes' ping interval (default 5000)")
    parser.add_argument("--inactivity-timeout-ms", type=int, default=15000,
                        help="nodes' inactivity timeout (default 15000)")
    parser.add_argument("--cut-s", type=float, default=0.0,
                        help="keep the inter-half link down at least this long (default 0: "
                             "restore it once the connections across it have timed out)")
    parser.add_argument("--convergence-bound-s", type=float, default=120.0,
                        help="longest accepted time from restoring the link until every node "
                             "is on half A's tip (default 120)")
    parser.add_argument("--min-connections", type=int, default=3,
                        help="peers every node needs before the test starts (default 3)")
    parser.add_argument("--connect-timeout-s", type=float, default=30.0,
                        help="how long to wait for --min-connections (default 30)")
    parser.add_argument("--item-timeout-s", type=float, default=30.0,
                        help="how long a block or transaction may take to reach every node "
                             "(default 30)")
    parser.add_argument("--attacker-addresses", type=int, default=60,
                        help="eclipse: the attacker's addresses, one connection each "
                             "(default 60, at most 250)")
    parser.add_argument("--victim-max-inbound", type=int, default=20,
                        help="eclipse: the victim's inbound slots (default 20)")
    parser.add_argument("--attack-s", type=float, default=300.0,
                        help="eclipse: the longest the attack runs; it is stopped when the "
                             "scenario ends (default 300)")
    parser.add_argument("--eclipse-blocks", type=int, default=2,
                        help="eclipse: blocks mined by honest nodes during the attack "
                             "(default 2)")
    parser.add_argument("--node-arg", action="append", default=[], metavar="ARG",
                        help="extra argument for every node, e.g. "
                             "--node-arg=--connect-timeout-ms=1000 (repeatable)")
    parser.add_argument("--log", default="warn",
                        choices=["off", "error", "warn", "info", "debug", "trace"],
                        help="nodes' engine log level, written to their logs (default warn)")
    parser.add_argument("--seed", type=int, help="random seed (default: random, printed)")
    parser.add_argument("--json", metavar="FILE", help="write a JSON summary to FILE")
    parser.add_argument("--workdir", help="where run directories go (default: system temp)")
    parser.add_argument("--keep-workdir", action="store_true",
                        help="keep node logs and data directories of passed runs too")
    args = parser.parse_args(argv)
    if args.nodes is not None and not 2 <= args.nodes <= MAX_NODES:
        parser.error(f"--nodes must be between 2 and {MAX_NODES}")
    if not 0 < args.delay_min_ms <= args.delay_max_ms:
        parser.error("need 0 < --delay-min-ms <= --delay-max-ms")
    if args.half_a_blocks <= args.half_b_blocks or args.half_b_blocks < 0:
        parser.error("half A must mine more blocks than half B (--half-a-blocks > "
                     "--half-b-blocks >= 0)")
    if not 1 <= args.attacker_addresses <= 250:
        parser.error("--attacker-addresses must be between 1 and 250")
    if not os.access(args.node_binary, os.X_OK):
        parser.error(f"--node-binary {args.node_binary} is not an executable file")
    args.node_binary = os.path.abspath(args.node_binary)
    return args


def missing_prerequisite():
    """Why this machine cannot run the simulation, or None."""
    if os.geteuid() != 0:
        return "netsim needs root to create network namespaces; skipped"
    missing = [tool for tool in ("ip", "tc") if shutil.which(tool) is None]
    if missing:
        return (f"netsim needs iproute2 ({', '.join(missing)} not found; "
                "apt-get install iproute2); skipped")
    return None


def main(argv):
    if argv[:1] == ["--link-relay"]:
        run_link_relay()
        return 0
    args = parse_args(argv)
    # ip and tc live in /usr/sbin, which not every PATH has.
    os.environ["PATH"] = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    reason = missing_prerequisite()
    if reason:
        print(reason, flush=True)
        return EXIT_SKIP
    seed = args.seed if args.seed is not None else random.SystemRandom().getrandbits(32)
    registry = Registry()
    atexit.register(registry.cleanup)

    def interrupt(signum, _frame):
        raise Interrupted(signum)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, interrupt)

    names = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    results = []
    try:
        for name in names:
            results.append(run_scenario(name, args, registry, seed))
    except Interrupted as interruption:
        signum = interruption.args[0]
        log(f"netsim: stopped by {signal.Signals(signum).name}")
        return 128 + signum
    finally:
        registry.cleanup()
    passed = all(r["passed"] for r in results)
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"passed": passed, "seed": seed, "scenarios": results}, out, indent=2)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
