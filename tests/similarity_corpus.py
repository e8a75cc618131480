"""Independent implementations of the hw3 and hw5 graded functions, as different learners write them.

Each list holds honest solutions written separately: the book's way, vectorised, through library
identities, with loops. Student i of a class takes implementation i of every function. None of
them is a copy of another, so no pair among them may be flagged.
"""

from __future__ import annotations

import re

HW3 = {
    "softmax": [
        """
        def softmax(X):
            # the book's stable version
            shifted = X - X.max(dim=1, keepdim=True).values
            e = torch.exp(shifted)
            return e / e.sum(dim=1, keepdim=True)
        """,
        """
        def softmax(X):
            return torch.softmax(X, dim=1)
        """,
        """
        def softmax(X):
            rows = []
            for row in X:
                m = row.max()
                ex = torch.exp(row - m)
                rows.append(ex / ex.sum())
            return torch.stack(rows)
        """,
        """
        def softmax(X):
            log_norm = torch.logsumexp(X, dim=1, keepdim=True)
            return torch.exp(X - log_norm)
        """,
        """
        def softmax(X):
            m = torch.amax(X, dim=1, keepdim=True)
            numerator = torch.exp(X - m)
            denominator = torch.sum(numerator, dim=1, keepdim=True)
            return numerator / denominator
        """,
        """
        def softmax(X):
            out = torch.empty_like(X)
            n, q = X.shape
            for i in range(n):
                biggest = max(X[i, j].item() for j in range(q))
                total = 0.0
                for j in range(q):
                    out[i, j] = math.exp(X[i, j].item() - biggest)
                    total += out[i, j].item()
                out[i] /= total
            return out
        """,
    ],
    "cross_entropy": [
        """
        def cross_entropy(y_hat, y):
            picked = y_hat[range(len(y_hat)), y]
            return -torch.log(picked)
        """,
        """
        def cross_entropy(y_hat, y):
            return -torch.log(y_hat.gather(1, y.unsqueeze(1)).squeeze(1))
        """,
        """
        def cross_entropy(y_hat, y):
            losses = []
            for i in range(len(y)):
                losses.append(-torch.log(y_hat[i, y[i]]))
            return torch.stack(losses)
        """,
        """
        def cross_entropy(y_hat, y):
            onehot = torch.nn.functional.one_hot(y, num_classes=y_hat.shape[1])
            return -(onehot * torch.log(y_hat)).sum(dim=1)
        """,
        """
        def cross_entropy(y_hat, y):
            return torch.nn.functional.nll_loss(torch.log(y_hat), y, reduction="none")
        """,
        """
        def cross_entropy(y_hat, y):
            idx = torch.arange(y_hat.shape[0])
            return -y_hat[idx, y].log()
        """,
    ],
    "accuracy": [
        """
        def accuracy(y_hat, y):
            if len(y_hat.shape) > 1 and y_hat.shape[1] > 1:
                y_hat = y_hat.argmax(axis=1)
            cmp = y_hat.type(y.dtype) == y
            return float(cmp.type(y.dtype).sum())
        """,
        """
        def accuracy(y_hat, y):
            if y_hat.dim() == 2 and y_hat.size(1) > 1:
                preds = torch.argmax(y_hat, dim=1)
            else:
                preds = y_hat
            return float((preds.long() == y.long()).sum().item())
        """,
        """
        def accuracy(y_hat, y):
            count = 0
            for i in range(len(y)):
                guess = y_hat[i].argmax() if y_hat.ndim == 2 and y_hat.shape[1] > 1 else y_hat[i]
                if int(guess) == int(y[i]):
                    count += 1
            return float(count)
        """,
        """
        def accuracy(y_hat, y):
            preds = y_hat.argmax(-1) if len(y_hat.shape) > 1 and y_hat.shape[-1] > 1 else y_hat.reshape(-1)
            return torch.eq(preds.to(y.dtype), y).float().sum().item()
        """,
        """
        def accuracy(y_hat, y):
            p = y_hat.detach().cpu().numpy()
            if p.ndim == 2 and p.shape[1] > 1:
                p = p.argmax(axis=1)
            return float((p.astype("int64") == y.cpu().numpy()).sum())
        """,
        """
        def accuracy(y_hat, y):
            two_d = y_hat.ndim == 2 and y_hat.shape[1] > 1
            labels = y_hat.max(dim=1).indices if two_d else y_hat
            return float(torch.count_nonzero(labels.eq(y)))
        """,
    ],
    "evaluate_accuracy": [
        """
        def evaluate_accuracy(net, data_iter):
            if isinstance(net, torch.nn.Module):
                net.eval()
            metric = [0.0, 0]
            with torch.no_grad():
                for X, y in data_iter:
                    metric[0] += accuracy(net(X), y)
                    metric[1] += y.numel()
            return metric[0] / metric[1]
        """,
        """
        def evaluate_accuracy(net, data_iter):
            if hasattr(net, "eval"):
                net.eval()
            hits, seen = [], []
            with torch.no_grad():
                for features, labels in data_iter:
                    hits.append(accuracy(net(features), labels))
                    seen.append(len(labels))
            return sum(hits) / sum(seen)
        """,
        """
        def evaluate_accuracy(net, data_iter):
            if isinstance(net, torch.nn.Module):
                net.train(False)
            all_preds, all_labels = [], []
            with torch.inference_mode():
                for X, y in data_iter:
                    all_preds.append(net(X).argmax(dim=1))
                    all_labels.append(y)
            preds = torch.cat(all_preds)
            return (preds == torch.cat(all_labels)).float().mean().item()
        """,
        """
        def evaluate_accuracy(net, data_iter):
            if isinstance(net, torch.nn.Module):
                net.eval()
            right = 0
            total = 0
            for X, y in data_iter:
                with torch.no_grad():
                    scores = net(X)
                right += int((scores.argmax(1) == y).sum())
                total += y.shape[0]
            return right / total
        """,
        """
        def evaluate_accuracy(net, data_iter):
            if isinstance(net, torch.nn.Module):
                net.eval()
            with torch.no_grad():
                results = [(accuracy(net(X), y), len(y)) for X, y in data_iter]
            return sum(c for c, _ in results) / sum(n for _, n in results)
        """,
        """
        def evaluate_accuracy(net, data_iter):
            was_module = isinstance(net, torch.nn.Module)
            if was_module:
                net.eval()
            good = n = 0
            torch.set_grad_enabled(False)
            try:
                for batch in data_iter:
                    inputs, targets = batch
                    good += accuracy(net(inputs), targets)
                    n += targets.numel()
            finally:
                torch.set_grad_enabled(True)
            return good / n
        """,
    ],
}

HW5 = {
    "conv2d_output_size": [
        """
        def conv2d_output_size(n, kernel_size, stride=1, padding=0, dilation=1):
            return (n + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1
        """,
        """
        def conv2d_output_size(n, kernel_size, stride=1, padding=0, dilation=1):
            effective = dilation * (kernel_size - 1) + 1
            return math.floor((n + 2 * padding - effective) / stride) + 1
        """,
        """
        def conv2d_output_size(n, kernel_size, stride=1, padding=0, dilation=1):
            padded = n + padding * 2
            span = (kernel_size - 1) * dilation + 1
            count = 0
            start = 0
            while start + span <= padded:
                count += 1
                start += stride
            return count
        """,
        """
        def conv2d_output_size(n, kernel_size, stride=1, padding=0, dilation=1):
            return int((n + 2 * padding - (kernel_size - 1) * dilation - 1) / stride) + 1
        """,
        """
        def conv2d_output_size(n, kernel_size, stride=1, padding=0, dilation=1):
            total = n + 2 * padding
            window = dilation * kernel_size - dilation + 1
            steps = (total - window) // stride
            return steps + 1
        """,
        """
        def conv2d_output_size(n, kernel_size, stride=1, padding=0, dilation=1):
            positions = range(0, n + 2 * padding - dilation * (kernel_size - 1), stride)
            return len(positions)
        """,
    ],
    "corr2d": [
        """
        def corr2d(X, K):
            h, w = K.shape
            Y = torch.zeros((X.shape[0] - h + 1, X.shape[1] - w + 1))
            for i in range(Y.shape[0]):
                for j in range(Y.shape[1]):
                    Y[i, j] = (X[i:i + h, j:j + w] * K).sum()
            return Y
        """,
        """
        def corr2d(X, K):
            kh, kw = K.shape
            patches = X.unfold(0, kh, 1).unfold(1, kw, 1)
            return (patches * K).sum(dim=(-1, -2)).float()
        """,
        """
        def corr2d(X, K):
            out = torch.nn.functional.conv2d(X[None, None].float(), K[None, None].float())
            return out[0, 0]
        """,
        """
        def corr2d(X, K):
            kh, kw = K.shape
            oh, ow = X.shape[0] - kh + 1, X.shape[1] - kw + 1
            acc = torch.zeros(oh, ow)
            for a in range(kh):
                for b in range(kw):
                    acc += K[a, b] * X[a:a + oh, b:b + ow]
            return acc
        """,
        """
        def corr2d(X, K):
            rows = X.shape[0] - K.shape[0] + 1
            cols = X.shape[1] - K.shape[1] + 1
            values = [[float(torch.sum(X[r:r + K.shape[0], c:c + K.shape[1]] * K)) for c in range(cols)]
                      for r in range(rows)]
            return torch.tensor(values)
        """,
        """
        def corr2d(X, K):
            H, W = X.shape
            p, q = K.shape
            result = torch.zeros(H - p + 1, W - q + 1)
            r = 0
            while r <= H - p:
                c = 0
                while c <= W - q:
                    total = 0.0
                    for u in range(p):
                        for v in range(q):
                            total += float(X[r + u, c + v]) * float(K[u, v])
                    result[r, c] = total
                    c += 1
                r += 1
            return result
        """,
    ],
    "pool2d": [
        """
        def pool2d(X, pool_size, mode="max"):
            if isinstance(pool_size, int):
                pool_size = (pool_size, pool_size)
            p_h, p_w = pool_size
            Y = torch.zeros((X.shape[0] // p_h, X.shape[1] // p_w))
            for i in range(Y.shape[0]):
                for j in range(Y.shape[1]):
                    if mode == "max":
                        Y[i, j] = X[i * p_h:i * p_h + p_h, j * p_w:j * p_w + p_w].max()
                    elif mode == "avg":
                        Y[i, j] = X[i * p_h:i * p_h + p_h, j * p_w:j * p_w + p_w].mean()
            return Y
        """,
        """
        def pool2d(X, pool_size, mode="max"):
            ph, pw = (pool_size, pool_size) if isinstance(pool_size, int) else tuple(pool_size)
            oh, ow = X.shape[0] // ph, X.shape[1] // pw
            blocks = X[:oh * ph, :ow * pw].float().reshape(oh, ph, ow, pw)
            return blocks.amax(dim=(1, 3)) if mode == "max" else blocks.mean(dim=(1, 3))
        """,
        """
        def pool2d(X, pool_size, mode="max"):
            x = X[None, None].float()
            if mode == "max":
                return torch.nn.functional.max_pool2d(x, pool_size)[0, 0]
            return torch.nn.functional.avg_pool2d(x, pool_size)[0, 0]
        """,
        """
        def pool2d(X, pool_size, mode="max"):
            try:
                a, b = pool_size
            except TypeError:
                a = b = pool_size
            windows = X.float().unfold(0, a, a).unfold(1, b, b)
            flat = windows.reshape(windows.shape[0], windows.shape[1], -1)
            if mode == "avg":
                return flat.mean(-1)
            return flat.max(-1).values
        """,
        """
        def pool2d(X, pool_size, mode="max"):
            size = pool_size if isinstance(pool_size, (tuple, list)) else [pool_size, pool_size]
            out_rows, out_cols = X.shape[0] // size[0], X.shape[1] // size[1]
            res = torch.empty(out_rows, out_cols)
            for r in range(out_rows):
                for c in range(out_cols):
                    vals = []
                    for u in range(size[0]):
                        for v in range(size[1]):
                            vals.append(float(X[r * size[0] + u, c * size[1] + v]))
                    res[r, c] = max(vals) if mode == "max" else sum(vals) / len(vals)
            return res
        """,
        """
        def pool2d(X, pool_size, mode="max"):
            k = (pool_size,) * 2 if isinstance(pool_size, int) else pool_size
            reduce = torch.max if mode == "max" else torch.mean
            grid = [[reduce(X[i:i + k[0], j:j + k[1]].float()).item()
                     for j in range(0, X.shape[1] - k[1] + 1, k[1])]
                    for i in range(0, X.shape[0] - k[0] + 1, k[0])]
            return torch.tensor(grid)
        """,
    ],
}

# How a copier disguises a classmate's notebook: other names, other comments, other layout.
RENAMES = {
    "hw3": [{"shifted": "z", "e": "numer", "rows": "result", "row": "r", "losses": "vals", "metric": "stats",
             "cmp": "same", "out": "res", "biggest": "top", "total": "s"},
            {"preds": "predicted", "hits": "good", "seen": "counts", "features": "inputs", "labels": "targets",
             "onehot": "mask", "picked": "chosen"},
            {"log_norm": "lse", "count": "nright", "guess": "g", "right": "ok", "scores": "logits", "idx": "ix"}],
    "hw5": [{"effective": "eff", "h": "rows", "w": "cols", "Y": "out", "p_h": "a", "p_w": "b"},
            {"patches": "windows", "blocks": "tiles", "ph": "kh2", "pw": "kw2", "oh": "nrows", "ow": "ncols"},
            {"acc": "total", "oh": "height", "ow": "width", "windows": "wins", "flat": "f", "padded": "full",
             "span": "extent", "count": "k", "start": "pos"}],
}


def disguise(source: str, renames: dict[str, str]) -> str:
    """A copy of `source` with names swapped, comments changed and the layout altered."""
    for old, new in renames.items():
        source = re.sub(rf"\b{re.escape(old)}\b", new, source)
    lines = []
    for line in source.splitlines():
        line = re.sub(r"\s*#.*$", "", line)
        if line.strip().startswith("def "):
            lines.append(line)
            indent = " " * (len(line) - len(line.lstrip()) + 4)
            lines.append(f'{indent}"""My own implementation."""')
            continue
        line = line.replace(" = ", " =  ").replace(", ", ",")
        lines.append(line)
        if line.strip().startswith(("for ", "while ")):
            indent = " " * (len(line) - len(line.lstrip()) + 4)
            lines.append(f"{indent}# loop over positions")
    return "\n".join(lines)
