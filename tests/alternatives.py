"""Valid alternative implementations of every graded function of hw1-hw5.

Three per function: the book's way, a vectorised (or otherwise rewritten) way, and a library
identity where the exercise allows the library (hw3's softmax/cross_entropy and hw5's loops are
the exercise: their third version is another hand-written formula). Alternative k of every
function of an assignment goes into one notebook, so each assignment is graded three times.

Used by tests/test_alternatives.py (each notebook earns full marks) and by
scripts/measure_tolerances.py (the float32 differences between them set the judges' tolerances).
"""

from __future__ import annotations

ALTERNATIVES: dict[str, list[dict[str, str]]] = {
    "hw1": [
        {  # the book's way
            "to_matrix": """
def to_matrix(x, n_cols):
    if len(x) % n_cols:
        raise ValueError("the length of x is not a multiple of n_cols")
    return x.reshape(len(x) // n_cols, n_cols)
""",
            "flatten_batch": """
def flatten_batch(X):
    return X.reshape(X.shape[0], -1)
""",
            "broadcast_shape": """
def broadcast_shape(a, b):
    a, b = list(a), list(b)
    n = max(len(a), len(b))
    a = [1] * (n - len(a)) + a
    b = [1] * (n - len(b)) + b
    out = []
    for da, db in zip(a, b):
        if da == db or db == 1:
            out.append(da)
        elif da == 1:
            out.append(db)
        else:
            raise ValueError("not broadcastable")
    return tuple(out)
""",
            "pairwise_diff": """
def pairwise_diff(a, b):
    return a.reshape(-1, 1) - b.reshape(1, -1)
""",
            "row_normalize": """
def row_normalize(X):
    return X / X.sum(dim=1, keepdim=True)
""",
            "add_inplace": """
def add_inplace(Y, X):
    Y[:] = Y + X
    return Y
""",
        },
        {  # vectorised / rewritten
            "to_matrix": """
def to_matrix(x, n_cols):
    rows, rest = divmod(x.numel(), n_cols)
    if rest != 0:
        raise ValueError(f"{x.numel()} elements do not fill rows of {n_cols}")
    return x.view(rows, n_cols)
""",
            "flatten_batch": """
def flatten_batch(X):
    return X.view(len(X), -1)
""",
            "broadcast_shape": """
import itertools

def broadcast_shape(a, b):
    out = []
    for da, db in itertools.zip_longest(reversed(a), reversed(b), fillvalue=1):
        if da != db and 1 not in (da, db):
            raise ValueError(f"{a} and {b} do not broadcast")
        out.append(max(da, db) if 1 not in (da, db) or da == db else da * db)
    return tuple(reversed(out))
""",
            "pairwise_diff": """
def pairwise_diff(a, b):
    return a.unsqueeze(1) - b.unsqueeze(0)
""",
            "row_normalize": """
def row_normalize(X):
    return X / X.sum(-1).unsqueeze(-1)
""",
            "add_inplace": """
def add_inplace(Y, X):
    Y += X
    return Y
""",
        },
        {  # library identities
            "to_matrix": """
def to_matrix(x, n_cols):
    try:
        return torch.reshape(x, (-1, n_cols))
    except RuntimeError as exc:
        raise ValueError(str(exc)) from None
""",
            "flatten_batch": """
def flatten_batch(X):
    return torch.flatten(X, start_dim=1)
""",
            "broadcast_shape": """
def broadcast_shape(a, b):
    try:
        return tuple(torch.broadcast_shapes(tuple(a), tuple(b)))
    except RuntimeError as exc:
        raise ValueError(str(exc)) from None
""",
            "pairwise_diff": """
def pairwise_diff(a, b):
    return torch.sub(a[:, None].expand(len(a), len(b)), b.expand(len(a), len(b)))
""",
            "row_normalize": """
def row_normalize(X):
    # the rows are positive here, so dividing by the L1 norm is dividing by the sum
    return torch.nn.functional.normalize(X, p=1, dim=1)
""",
            "add_inplace": """
def add_inplace(Y, X):
    return Y.add_(X)
""",
        },
    ],
    "hw2": [
        {  # the book's way
            "synthetic_data": """
def synthetic_data(w, b, num_examples):
    X = torch.normal(0, 1, (num_examples, len(w)))
    y = torch.matmul(X, w) + b
    y += torch.normal(0, 0.01, y.shape)
    return X, y.reshape((-1, 1))
""",
            "data_iter": """
def data_iter(batch_size, features, labels):
    num_examples = len(features)
    indices = list(range(num_examples))
    random.shuffle(indices)
    for i in range(0, num_examples, batch_size):
        batch_indices = torch.tensor(indices[i: min(i + batch_size, num_examples)])
        yield features[batch_indices], labels[batch_indices]
""",
            "linreg": """
def linreg(X, w, b):
    return torch.matmul(X, w) + b
""",
            "squared_loss": """
def squared_loss(y_hat, y):
    return (y_hat - y.reshape(y_hat.shape)) ** 2 / 2
""",
            "sgd": """
def sgd(params, lr, batch_size):
    with torch.no_grad():
        for param in params:
            param -= lr * param.grad / batch_size
            param.grad.zero_()
""",
        },
        {  # vectorised / rewritten
            "synthetic_data": """
def synthetic_data(w, b, num_examples):
    X = torch.randn(num_examples, len(w))
    y = X @ w.reshape(-1, 1) + b + 0.01 * torch.randn(num_examples, 1)
    return X, y
""",
            "data_iter": """
def data_iter(batch_size, features, labels):
    order = torch.randperm(len(features))
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        yield features[idx], labels[idx]
""",
            "linreg": """
def linreg(X, w, b):
    return torch.einsum("nd,dk->nk", X, w) + b
""",
            "squared_loss": """
def squared_loss(y_hat, y):
    return 0.5 * (y_hat - y.view_as(y_hat)).pow(2)
""",
            "sgd": """
def sgd(params, lr, batch_size):
    for p in params:
        p.data.sub_(lr * p.grad.data / batch_size)
        p.grad = None
""",
        },
        {  # library identities
            "synthetic_data": """
def synthetic_data(w, b, num_examples):
    X = torch.randn(num_examples, len(w))
    noise = torch.distributions.Normal(0.0, 0.01).sample((num_examples,))
    y = torch.mv(X, w) + b + noise
    return X, y.unsqueeze(1)
""",
            "data_iter": """
def data_iter(batch_size, features, labels):
    dataset = torch.utils.data.TensorDataset(features, labels)
    yield from torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True)
""",
            "linreg": """
def linreg(X, w, b):
    return torch.addmm(b, X, w)
""",
            "squared_loss": """
def squared_loss(y_hat, y):
    return torch.nn.functional.mse_loss(y_hat, y.reshape(y_hat.shape), reduction="none") / 2
""",
            "sgd": """
def sgd(params, lr, batch_size):
    optimizer = torch.optim.SGD(params, lr=lr / batch_size)
    optimizer.step()
    optimizer.zero_grad()
""",
        },
    ],
    "hw3": [
        {  # the book's way (with the stable max subtraction the stub asks for)
            "softmax": """
def softmax(X):
    X_exp = torch.exp(X - X.max(dim=1, keepdim=True).values)
    partition = X_exp.sum(1, keepdim=True)
    return X_exp / partition
""",
            "cross_entropy": """
def cross_entropy(y_hat, y):
    return -torch.log(y_hat[range(len(y_hat)), y])
""",
            "accuracy": """
def accuracy(y_hat, y):
    if len(y_hat.shape) > 1 and y_hat.shape[1] > 1:
        y_hat = y_hat.argmax(axis=1)
    cmp = y_hat.type(y.dtype) == y
    return float(cmp.type(y.dtype).sum())
""",
            "evaluate_accuracy": """
def evaluate_accuracy(net, data_iter):
    if isinstance(net, torch.nn.Module):
        net.eval()
    metric = [0.0, 0.0]
    with torch.no_grad():
        for X, y in data_iter:
            metric[0] += accuracy(net(X), y)
            metric[1] += y.numel()
    return metric[0] / metric[1]
""",
        },
        {  # vectorised / rewritten: log-sum-exp, gather
            "softmax": """
def softmax(X):
    return torch.exp(X - torch.logsumexp(X, dim=1, keepdim=True))
""",
            "cross_entropy": """
def cross_entropy(y_hat, y):
    return -torch.log(torch.gather(y_hat, 1, y.reshape(-1, 1))).reshape(-1)
""",
            "accuracy": """
def accuracy(y_hat, y):
    pred = y_hat.argmax(dim=-1) if y_hat.dim() == 2 and y_hat.size(1) > 1 else y_hat
    return float(torch.count_nonzero(pred.long() == y))
""",
            "evaluate_accuracy": """
def evaluate_accuracy(net, data_iter):
    if hasattr(net, "eval"):
        net.eval()
    with torch.no_grad():
        counts = [(accuracy(net(X), y), len(y)) for X, y in data_iter]
    return sum(c for c, _ in counts) / sum(n for _, n in counts)
""",
        },
        {  # another hand-written formula (the library's softmax and cross-entropy are not allowed)
            "softmax": """
def softmax(X):
    shifted = X - X.amax(dim=1, keepdim=True)
    return torch.nn.functional.normalize(shifted.exp(), p=1, dim=1)
""",
            "cross_entropy": """
def cross_entropy(y_hat, y):
    picked = (y_hat * torch.nn.functional.one_hot(y, y_hat.shape[1])).sum(dim=1)
    return -picked.log()
""",
            "accuracy": """
def accuracy(y_hat, y):
    if y_hat.ndim == 2 and y_hat.shape[1] > 1:
        y_hat = torch.max(y_hat, dim=1).indices
    return (y_hat == y).sum().item() * 1.0
""",
            "evaluate_accuracy": """
@torch.no_grad()
def evaluate_accuracy(net, data_iter):
    if isinstance(net, torch.nn.Module):
        net.train(False)
    right = seen = 0
    for X, y in data_iter:
        right += accuracy(net(X), y)
        seen += len(y)
    return right / seen
""",
        },
    ],
    "hw4": [
        {  # the book's way
            "CenteredLayer": """
class CenteredLayer(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, X):
        return X - X.mean()
""",
            "MyDense": """
class MyDense(nn.Module):
    def __init__(self, units, in_units):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(in_units, units))
        self.bias = nn.Parameter(torch.randn(units,))

    def forward(self, X):
        linear = torch.matmul(X, self.weight) + self.bias
        return F.relu(linear)
""",
            "MySequential": """
class MySequential(nn.Module):
    def __init__(self, *args):
        super().__init__()
        for idx, module in enumerate(args):
            self._modules[str(idx)] = module

    def forward(self, X):
        for block in self._modules.values():
            X = block(X)
        return X
""",
        },
        {  # rewritten
            "CenteredLayer": """
class CenteredLayer(nn.Module):
    def forward(self, X):
        return X.sub(X.sum() / X.numel())
""",
            "MyDense": """
class MyDense(nn.Module):
    def __init__(self, units, in_units):
        super().__init__()
        self.register_parameter("weight", nn.Parameter(torch.empty(in_units, units).normal_()))
        self.register_parameter("bias", nn.Parameter(torch.zeros(units)))

    def forward(self, X):
        return (X @ self.weight + self.bias).clamp(min=0)
""",
            "MySequential": """
class MySequential(nn.Module):
    def __init__(self, *modules):
        super().__init__()
        self.layers = nn.ModuleList(modules)

    def forward(self, X):
        for layer in self.layers:
            X = layer(X)
        return X
""",
        },
        {  # library identities
            "CenteredLayer": """
class CenteredLayer(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, X):
        return torch.sub(X, torch.mean(X))
""",
            "MyDense": """
class MyDense(nn.Module):
    def __init__(self, units, in_units):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(in_units, units) * 0.1)
        self.bias = nn.Parameter(torch.randn(units) * 0.1)

    def forward(self, X):
        return torch.relu(torch.addmm(self.bias, X, self.weight))
""",
            "MySequential": """
class MySequential(nn.Module):
    def __init__(self, *modules):
        super().__init__()
        for i, module in enumerate(modules):
            self.add_module(f"step{i}", module)

    def forward(self, X):
        for module in self.children():
            X = module(X)
        return X
""",
        },
    ],
    "hw5": [
        {  # the book's way
            "conv2d_output_size": """
def conv2d_output_size(n, kernel_size, stride=1, padding=0, dilation=1):
    return (n + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1
""",
            "corr2d": """
def corr2d(X, K):
    h, w = K.shape
    Y = torch.zeros((X.shape[0] - h + 1, X.shape[1] - w + 1))
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            Y[i, j] = (X[i:i + h, j:j + w] * K).sum()
    return Y
""",
            "pool2d": """
def pool2d(X, pool_size, mode="max"):
    p_h, p_w = (pool_size, pool_size) if isinstance(pool_size, int) else pool_size
    Y = torch.zeros((X.shape[0] // p_h, X.shape[1] // p_w))
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            if mode == "max":
                Y[i, j] = X[i * p_h: i * p_h + p_h, j * p_w: j * p_w + p_w].max()
            elif mode == "avg":
                Y[i, j] = X[i * p_h: i * p_h + p_h, j * p_w: j * p_w + p_w].mean()
    return Y
""",
        },
        {  # vectorised: loops over the kernel (or window) offsets, not over the output
            "conv2d_output_size": """
import math

def conv2d_output_size(n, kernel_size, stride=1, padding=0, dilation=1):
    span = dilation * (kernel_size - 1) + 1
    return math.floor((n + 2 * padding - span) / stride) + 1
""",
            "corr2d": """
def corr2d(X, K):
    kh, kw = K.shape
    oh, ow = X.shape[0] - kh + 1, X.shape[1] - kw + 1
    Y = torch.zeros(oh, ow, dtype=torch.result_type(X, K) if X.is_floating_point() else torch.float32)
    for a in range(kh):
        for b in range(kw):
            Y += K[a, b] * X[a:a + oh, b:b + ow]
    return Y
""",
            "pool2d": """
def pool2d(X, pool_size, mode="max"):
    ph, pw = (pool_size, pool_size) if isinstance(pool_size, int) else tuple(pool_size)
    h, w = X.shape[0] // ph, X.shape[1] // pw
    blocks = X[:h * ph, :w * pw].reshape(h, ph, w, pw)
    return blocks.amax(dim=(1, 3)) if mode == "max" else blocks.mean(dim=(1, 3))
""",
        },
        {  # another hand-written formula (the library's layers are not allowed)
            "conv2d_output_size": """
def conv2d_output_size(n, kernel_size, stride=1, padding=0, dilation=1):
    covered = n + 2 * padding - (dilation * (kernel_size - 1) + 1)
    return int(covered / stride) + 1 if covered >= 0 else 0
""",
            "corr2d": """
def corr2d(X, K):
    kh, kw = K.shape
    rows = []
    for i in range(X.shape[0] - kh + 1):
        rows.append(torch.stack([torch.dot(X[i:i + kh, j:j + kw].reshape(-1), K.reshape(-1))
                                 for j in range(X.shape[1] - kw + 1)]))
    return torch.stack(rows).float()
""",
            "pool2d": """
def pool2d(X, pool_size, mode="max"):
    if isinstance(pool_size, int):
        pool_size = (pool_size, pool_size)
    ph, pw = pool_size
    reduce = torch.amax if mode == "max" else torch.mean
    return torch.stack([
        torch.stack([reduce(X[i:i + ph, j:j + pw]) for j in range(0, X.shape[1] - pw + 1, pw)])
        for i in range(0, X.shape[0] - ph + 1, ph)
    ])
""",
        },
    ],
}
