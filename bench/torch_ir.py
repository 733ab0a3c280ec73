"""Builds a latnas layer-IR network in PyTorch and times training and inference steps.

Used by bench/train-throughput.ts as the peer to compare against (Debian python3-torch):
python3 torch_ir.py IR.json BATCH STEPS THREADS  ->  one JSON line.
The IR is the one the profiler and the TF.js trainer lower from, so both sides run the same net.
"""
import json, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F


def same_pads(size, k, stride):
    out = -(-size // stride)
    total = max((out - 1) * stride + k - size, 0)
    return total // 2, total - total // 2


class Conv(nn.Module):
    def __init__(self, l, cin, h, w):
        super().__init__()
        t, b = same_pads(h, l["k"], l["stride"])
        lft, r = same_pads(w, l["k"], l["stride"])
        self.pad = None if (t == b and lft == r) else (lft, r, t, b)
        sym = 0 if self.pad else t
        self.conv = nn.Conv2d(cin, l["cout"], l["k"], l["stride"], sym, groups=l["groups"], bias=not l["bn"])
        self.bn = nn.BatchNorm2d(l["cout"]) if l["bn"] else None
        self.act = {"relu": nn.ReLU(), "hswish": nn.Hardswish(), "none": nn.Identity()}[l["act"]]

    def forward(self, x):
        if self.pad:
            x = F.pad(x, self.pad)
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        return self.act(x)


class Shuffle(nn.Module):
    def __init__(self, g):
        super().__init__()
        self.g = g

    def forward(self, x):
        n, c, h, w = x.shape
        return x.view(n, self.g, c // self.g, h, w).transpose(1, 2).reshape(n, c, h, w)


class SE(nn.Module):
    def __init__(self, c, r):
        super().__init__()
        self.reduce = nn.Conv2d(c, r, 1)
        self.expand = nn.Conv2d(r, c, 1)

    def forward(self, x):
        s = x.mean((2, 3), keepdim=True)
        return x * F.hardsigmoid(self.expand(F.relu(self.reduce(s))))


class Residual(nn.Module):
    def __init__(self, body):
        super().__init__()
        self.body = body

    def forward(self, x):
        return x + self.body(x)


class Head(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.fc = nn.Linear(cin, cout)

    def forward(self, x):
        return self.fc(torch.flatten(x, 1))


def build(layers, c, h, w):
    mods = []
    for l in layers:
        op = l["op"]
        if op == "conv":
            mods.append(Conv(l, c, h, w))
            c, h, w = l["cout"], -(-h // l["stride"]), -(-w // l["stride"])
        elif op == "shuffle":
            mods.append(Shuffle(l["groups"]))
        elif op == "se":
            mods.append(SE(c, l["reduced"]))
        elif op == "residual":
            body, _ = build(l["body"], c, h, w)
            mods.append(Residual(body))
        elif op == "gap":
            mods.append(nn.AdaptiveAvgPool2d(1))
            h = w = 1
        elif op == "fc":
            mods.append(Head(c, l["cout"]))
            c = l["cout"]
    return nn.Sequential(*mods), (c, h, w)


def main():
    spec = json.load(open(sys.argv[1]))
    batch, steps, threads = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    c, h, w = spec["input"]["c"], spec["input"]["h"], spec["input"]["w"]
    model, _ = build(spec["layers"], c, h, w)
    x = torch.randn(batch, c, h, w)
    y = torch.randint(0, spec["classes"], (batch,))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    model.train()

    def step():
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()

    for _ in range(3):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    train_s = time.perf_counter() - t0
    model.eval()
    with torch.no_grad():
        for _ in range(3):
            model(x)
        t0 = time.perf_counter()
        for _ in range(steps):
            model(x)
        infer_s = time.perf_counter() - t0
    params = sum(p.numel() for p in model.parameters())
    print(json.dumps({"torch": torch.__version__, "params": params, "train_ips": batch * steps / train_s, "infer_ips": batch * steps / infer_s}))


if __name__ == "__main__":
    main()
