"""Turn edge-labelled cells (an op on every edge, tensors on nodes) into op-node DAGs.

NAS-Bench-201 and DARTS put operations on edges. :class:`~gnnnas.ArchGraph` puts them on
nodes: every edge ``i -> j`` with op ``o`` becomes an op node, fed by the cell input (if ``i``
is an input tensor) or by every op node that writes into tensor ``i`` (their sum is tensor
``i``). The output node reads the op nodes writing into the output tensors.

With ``sum_nodes=True`` every written tensor becomes an explicit ``sum`` node fed by its writers,
and readers and the output read that node: needed where the output *concatenates* its tensors
(DARTS), since a concatenation of sums must know which ops were summed together.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["edge_cell_to_nodes"]


def edge_cell_to_nodes(
    num_inputs: int,
    edge_ops: Sequence[tuple[int, int, str]],
    output_tensors: Sequence[int],
    node_offset: int = 0,
    input_nodes: Sequence[int] | None = None,
    sum_nodes: bool = False,
) -> tuple[list[str], list[tuple[int, int]], list[int]]:
    """Op-node form of one edge-labelled cell.

    Args:
        num_inputs: tensors ``0 .. num_inputs-1`` are cell inputs.
        edge_ops: ``(src_tensor, dst_tensor, op)`` per edge, in the order the op nodes
            should get (the native encoding's order, so ``format`` can read them back).
        output_tensors: tensors whose sum/concat is the cell output.
        node_offset: index of the first node created here (to place several cells in one graph).
        input_nodes: existing node indices that provide the cell inputs; when ``None``
            ``num_inputs`` new ``input`` nodes are created first.

    Returns:
        ``(ops, edges, op_node_ids)``: labels of the new nodes (inputs if created, the op nodes
        in ``edge_ops`` order, then one ``output`` node), edges between global node indices,
        and the global index of each op node.
    """
    ops: list[str] = []
    edges: list[tuple[int, int]] = []
    if input_nodes is None:
        input_nodes = list(range(node_offset, node_offset + num_inputs))
        ops.extend(["input"] * num_inputs)
    elif len(input_nodes) != num_inputs:
        raise ValueError(f"{len(input_nodes)} input nodes given for {num_inputs} cell inputs")
    first_op = node_offset + len(ops)
    op_node = [first_op + k for k in range(len(edge_ops))]
    writers: dict[int, list[int]] = {}
    for k, (src, dst, op) in enumerate(edge_ops):
        if dst < num_inputs or src >= dst:
            raise ValueError(f"edge {src} -> {dst} must go forward into a non-input tensor")
        writers.setdefault(dst, []).append(op_node[k])
        ops.append(op)
    if sum_nodes:
        for tensor in sorted(writers):
            node = node_offset + len(ops)
            ops.append("sum")
            edges.extend((w, node) for w in writers[tensor])
            writers[tensor] = [node]
    for k, (src, _dst, _op) in enumerate(edge_ops):
        if src < num_inputs:
            edges.append((input_nodes[src], op_node[k]))
        else:
            if src not in writers:
                raise ValueError(f"tensor {src} is read but no edge writes into it")
            edges.extend((w, op_node[k]) for w in writers[src])
    out = node_offset + len(ops)
    ops.append("output")
    for t in output_tensors:
        if t < num_inputs:
            edges.extend((i, out) for i in [input_nodes[t]])
        else:
            edges.extend((w, out) for w in writers.get(t, []))
    return ops, edges, op_node
