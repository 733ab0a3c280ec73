"""Exports a latnas layer-IR network from PyTorch with torch.onnx.export, the peer of `latnas export`.

Used by bench/export-vs-torch.ts (Debian python3-torch): python3 torch_export.py IR.json OUT.onnx OPSET
-> one JSON line. The net is built by torch_ir.build from the same IR latnas lowers, in eval mode,
with a dynamic batch, so both files describe the same computation.
"""
import json, sys
import torch
from torch_ir import Conv, build


def main():
    spec = json.load(open(sys.argv[1]))
    out, opset = sys.argv[2], int(sys.argv[3])
    torch.manual_seed(1)
    c, h, w = spec["input"]["c"], spec["input"]["h"], spec["input"]["w"]
    model, _ = build(spec["layers"], c, h, w)
    # torch_ir pads asymmetrically (TF 'same', for bit-exact parity with TF.js) with an F.pad that
    # exports as a shape-computing subgraph. A PyTorch user writes padding=k//2, which gives the same
    # output sizes for these odd kernels: export that, the model a torch user would deploy.
    for m in model.modules():
        if isinstance(m, Conv) and m.pad is not None:
            m.pad = None
            m.conv.padding = (m.conv.kernel_size[0] // 2, m.conv.kernel_size[1] // 2)
    # Non-trivial BatchNorm statistics, as after training; eval mode so the exporter folds them.
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    model.eval()
    x = torch.randn(1, c, h, w)
    torch.onnx.export(model, x, out, opset_version=opset, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, do_constant_folding=True)
    print(json.dumps({"torch": torch.__version__, "params": sum(p.numel() for p in model.parameters())}))


if __name__ == "__main__":
    main()
