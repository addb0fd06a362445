"""Regression estimators of EVPPI: penalised regression splines (GAM) and a Gaussian process.

The regression-metamodel method of Strong, Oakley & Brennan (2014): regress the
incremental net benefit of each strategy (against a reference) on the parameters
of interest, then ``EVPPI = mean_draws max_s g_s - max_s mean_draws g_s``
(``g_ref = 0``).  Two smoothers, both written here on numpy/scipy: :class:`Gam`, a
penalised regression spline (smoothing parameters by REML), and
:class:`GaussianProcess` (ARD squared exponential kernel, linear mean,
hyperparameters by restricted maximum likelihood).  Each fit gives the fitted
values at every draw and samples from their approximate posterior (for the
standard error).  Used by :func:`sim.decision.voi.evppi`; formulas and advice:
``docs/voi.md``.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg as _la
from scipy import optimize as _opt
from scipy.interpolate import BSpline as _BSpline

from sim.errors import HtaError

__all__ = ["EVPPI_MIN_DRAWS", "GAM_K_MAIN", "GAM_K_INT", "Fit", "Gam", "GaussianProcess"]

#: Fewest draws :func:`sim.decision.voi.evppi` accepts (and the GAM fits).
EVPPI_MIN_DRAWS = 100
#: Basis functions of the GAM: cubic B-splines per parameter (main effects) ...
GAM_K_MAIN = 12
#: ... and per margin of a pairwise tensor-product interaction, by group size.
GAM_K_INT = {2: 7, 3: 6, 4: 5}
_GAM_K_INT_LARGE = 4
_GP_HYPER_SUBSET = 500  # hyperparameters searched (with restarts) on this many points first


class Fit:
    """A fitted incremental net benefit.

    ``fitted`` holds the fitted values at every draw; :meth:`sample` draws from the
    approximate posterior of the fitted values at the evaluation points.

    Parameters
    ----------
    fitted : ndarray, shape (n_draws,)
        Fitted values at every draw.
    n_eval : int
        Number of evaluation points of the posterior samples (the draws, or the
        GP's fitting subsample).
    sampler : callable, optional
        ``sampler(rng, m, w)`` -> ``m`` posterior samples, shape (n_eval, m); none
        for a constant fit.
    const : float
        The value of a constant fit (no sampler).
    """

    def __init__(self, fitted: np.ndarray, n_eval: int, sampler=None, const: float = 0.0):
        self.fitted = fitted
        self.n_eval = n_eval
        self._sampler = sampler
        self._const = const

    def sample(self, rng, m: int, w: np.ndarray) -> np.ndarray:
        """Posterior samples of the fitted values at the evaluation points.

        Parameters
        ----------
        rng : numpy.random.Generator
            Source of this fit's own normal deviates.
        m : int
            Number of samples.
        w : ndarray, shape (n_eval, m)
            Standard normal weights shared by all strategies.

        Returns
        -------
        ndarray, shape (n_eval, m)
        """
        if self._sampler is None:
            return np.full((self.n_eval, m), self._const)
        return self._sampler(rng, m, w)


def _standardise(y: np.ndarray):
    mu = float(y.mean())
    sd = float(y.std())
    if not sd > 1e-12 * max(abs(mu), 1e-300):
        return mu, 0.0
    return mu, sd


# ---------------------------------------------------------------------------- GAM
def _spline_margin(x: np.ndarray, k: int):
    """Centred basis (n, k'-1) and penalty of one input.

    Cubic B-splines with knots at quantiles and the integrated squared second
    derivative penalty, or indicators of the levels (unpenalised) for an input with
    few distinct values.
    """
    levels = np.unique(x)
    if levels.size <= k:
        B = (x[:, None] == levels[None, :]).astype(float)
        S = None
    else:
        lo, hi = levels[0], levels[-1]
        inner = np.unique(np.quantile(x, np.linspace(0.0, 1.0, k - 2)[1:-1]))
        inner = inner[(inner > lo) & (inner < hi)]
        t = np.r_[[lo] * 4, inner, [hi] * 4]
        kk = len(t) - 4
        B = _BSpline.design_matrix(x, t, 3).toarray()
        # exact integral of B_i'' B_j'' (piecewise linear): 2-point Gauss-Legendre per knot interval
        br = np.unique(t)
        mid, half = (br[1:] + br[:-1]) / 2, (br[1:] - br[:-1]) / 2
        node = 1.0 / np.sqrt(3.0)
        xq = np.r_[mid - half * node, mid + half * node]
        wq = np.r_[half, half]
        d2 = _BSpline(t, np.eye(kk), 3).derivative(2)(xq)
        S = d2.T @ (wq[:, None] * d2)
    # sum-to-zero constraint over the draws: the constant lives in the intercept
    Q, _ = np.linalg.qr(B.sum(axis=0)[:, None], mode="complete")
    Z = Q[:, 1:]
    Bc = B @ Z
    if S is None:
        return Bc, None, np.zeros(Bc.shape[1])
    Sc = Z.T @ S @ Z
    e, U = np.linalg.eigh((Sc + Sc.T) / 2)
    e = np.where(e > 1e-9 * e.max(), e, 0.0)
    return Bc, (U * e) @ U.T, e


class Gam:
    """Penalised regression-spline design for a group of standardised inputs.

    Intercept + a centred main effect per input (``k`` cubic B-splines) + for
    groups, a centred tensor-product interaction per pair (ANOVA decomposition as
    in mgcv's ``ti``).  For two inputs the span equals the full tensor product; it
    always contains each member's single-input model.  Penalties: one smoothing
    parameter per main effect, two per interaction (one per margin direction).

    Parameters
    ----------
    z : ndarray, shape (n_draws, p)
        The standardised inputs (varying parameters of one group).
    k : int, optional
        Basis functions per main effect (default :data:`GAM_K_MAIN`).

    Raises
    ------
    HtaError
        If there are fewer than twice as many draws as basis coefficients.
    """

    def __init__(self, z: np.ndarray, k: int | None):
        n, p = z.shape
        k_main = k or GAM_K_MAIN
        k_int = GAM_K_INT.get(p, _GAM_K_INT_LARGE)
        mains = [_spline_margin(z[:, d], k_main) for d in range(p)]
        ints = [_spline_margin(z[:, d], k_int) for d in range(p)] if p > 1 else []
        cols = [np.ones((n, 1))]
        self.pen = []      # (slice, block penalty matrix)
        self.blocks = []   # (penalty index a or None, eigenvalues a, index b or None, eigenvalues b)
        q = 1
        for B, S, e in mains:
            sl = slice(q, q + B.shape[1])
            cols.append(B)
            q = sl.stop
            if S is not None:
                s = np.linalg.norm(B.T @ B) / np.linalg.norm(S)
                self.pen.append((sl, S * s))
                self.blocks.append((len(self.pen) - 1, e * s, None, np.zeros(1)))
        for a in range(p):
            for b in range(a + 1, p):
                Ba, Sa, ea = ints[a]
                Bb, Sb, eb = ints[b]
                T = (Ba[:, :, None] * Bb[:, None, :]).reshape(n, -1)
                sl = slice(q, q + T.shape[1])
                cols.append(T)
                q = sl.stop
                nt = np.linalg.norm(T.T @ T)
                ja = jb = None
                if Sa is not None:
                    Pa = np.kron(Sa, np.eye(Bb.shape[1]))
                    sa = nt / np.linalg.norm(Pa)
                    self.pen.append((sl, Pa * sa))
                    ja, ea = len(self.pen) - 1, ea * sa
                if Sb is not None:
                    Pb = np.kron(np.eye(Ba.shape[1]), Sb)
                    sb = nt / np.linalg.norm(Pb)
                    self.pen.append((sl, Pb * sb))
                    jb, eb = len(self.pen) - 1, eb * sb
                if ja is not None or jb is not None:
                    self.blocks.append((ja, ea, jb, eb))
        self.q = q
        if n < max(EVPPI_MIN_DRAWS, 2 * q):
            raise HtaError(
                f"EVPPI (gam) of {p} parameters fits {q} basis coefficients and needs at least {2 * q} "
                f"draws, got {n}; run more draws, use smaller groups or method='gp'"
            )
        self.X = np.hstack(cols)
        self.XtX = self.X.T @ self.X
        self.n = n
        rank = 0
        for ja, ea, jb, eb in self.blocks:
            va = ea if ja is not None else np.zeros_like(ea)
            vb = eb if jb is not None else np.zeros_like(eb)
            rank += int(((va[:, None] > 0) | (vb[None, :] > 0)).sum())
        self.Mp = q - rank  # dimension of the unpenalised space

    def _logdet_S(self, lam: np.ndarray):
        """Log pseudo-determinant of the total penalty and its gradient in log lambda.

        Blocks are independent; an interaction's two penalties are a Kronecker sum
        whose eigenvalues are ``lam_a e_a,i + lam_b e_b,j``.
        """
        ld = 0.0
        grad = np.zeros(len(lam))
        for ja, ea, jb, eb in self.blocks:
            va = lam[ja] * ea if ja is not None else np.zeros_like(ea)
            vb = lam[jb] * eb if jb is not None else np.zeros_like(eb)
            v = va[:, None] + vb[None, :]
            pos = v > 0
            ld += float(np.log(v[pos]).sum())
            if ja is not None:
                grad[ja] += float((np.broadcast_to(va[:, None], v.shape)[pos] / v[pos]).sum())
            if jb is not None:
                grad[jb] += float((np.broadcast_to(vb[None, :], v.shape)[pos] / v[pos]).sum())
        return ld, grad

    def _penalty(self, lam):
        S = np.zeros((self.q, self.q))
        for j, (sl, P) in enumerate(self.pen):
            S[sl, sl] += lam[j] * P
        return S

    def _solve(self, lam, Xty, y):
        S = self._penalty(lam)
        H = self.XtX + S
        L = _chol(H)
        beta = _la.cho_solve((L, True), Xty)
        r = y - self.X @ beta
        return S, L, beta, float(r @ r), float(beta @ S @ beta)

    def fit(self, y: np.ndarray) -> Fit:
        """Fit the smoother to ``y``, smoothing parameters by REML.

        Parameters
        ----------
        y : ndarray, shape (n_draws,)
            The response (an incremental net benefit) at every draw.

        Returns
        -------
        Fit
        """
        mu, sd = _standardise(y)
        n = self.n
        if sd == 0.0:
            return Fit(np.full(n, mu), n, const=mu)
        ys = (y - mu) / sd
        Xty = self.X.T @ ys
        m = len(self.pen)
        dof = n - self.Mp

        def reml(rho):
            lam = np.exp(rho)
            S, L, beta, rss, pen = self._solve(lam, Xty, ys)
            D = max(rss + pen, 1e-300)
            Hinv = _chol_inv(L)
            ldS, dldS = self._logdet_S(lam)
            v = dof * np.log(D) + 2.0 * np.log(np.diag(L)).sum() - ldS
            g = np.empty(m)
            for j, (sl, P) in enumerate(self.pen):
                b = beta[sl]
                g[j] = lam[j] * (dof * (b @ P @ b) / D + np.sum(Hinv[sl, sl] * P))
            return v, g - dldS

        if m:
            res = _opt.minimize(reml, np.zeros(m), jac=True, method="L-BFGS-B",
                                bounds=[(-12.0, 20.0)] * m, options={"maxiter": 200})
            lam = np.exp(res.x)
        else:
            lam = np.zeros(0)
        S, L, beta, rss, _ = self._solve(lam, Xty, ys)
        Hinv = _chol_inv(L)
        edf = float(self.q - np.sum(Hinv * S))
        sigma = np.sqrt(rss / max(n - edf, 1.0))
        fitted = mu + sd * (self.X @ beta)

        # Posterior samples of the coefficients (docs/voi.md, "Standard error"):
        #   beta* = beta + H^-1 X'(w o r~) + sigma H^-1 S^1/2 z
        # covariance H^-1 (X' diag(r~^2) X + sigma^2 S) H^-1: the Bayesian sigma^2 H^-1
        # with the noise part in heteroscedasticity-robust (sandwich) form.  The
        # weights w are shared by all strategies (passed in), so that samples keep the
        # correlation of their incremental net benefits; z is this fit's own.
        r = ys - self.X @ beta
        lev = np.einsum("ij,ij->i", self.X @ Hinv, self.X)
        rt = r / np.sqrt(np.clip(1.0 - lev, 0.01, 1.0))  # leverage-corrected residuals
        e, U = np.linalg.eigh(S)
        Sroot = U * np.sqrt(np.clip(e, 0.0, None))
        HS = sigma * (Hinv @ Sroot)

        def sampler(rng, k, w):
            B = beta[:, None] + Hinv @ (self.X.T @ (w * rt[:, None])) + HS @ rng.standard_normal((self.q, k))
            return mu + sd * (self.X @ B)

        return Fit(fitted, n, sampler)


def _chol(H: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor, with a little jitter if rounding makes H indefinite."""
    jitter = 0.0
    scale = float(np.mean(np.diag(H))) or 1.0
    for _ in range(6):
        try:
            return _la.cholesky(H + jitter * np.eye(len(H)), lower=True)
        except np.linalg.LinAlgError:
            jitter = scale * (1e-12 if jitter == 0.0 else jitter / scale * 100)
    raise HtaError("EVPPI: the regression is numerically singular; check the parameter draws "
                   "(duplicated or perfectly collinear parameters in one group?)")


def _chol_inv(L: np.ndarray) -> np.ndarray:
    inv, info = _la.lapack.dpotri(L, lower=1)
    if info != 0:
        raise HtaError("EVPPI: could not invert the regression's normal matrix")
    return np.tril(inv) + np.tril(inv, -1).T


# ---------------------------------------------------------------------------- GP
class GaussianProcess:
    """Gaussian-process regression on standardised inputs.

    ``y = h(x)'b + f(x) + e``: linear mean ``h(x) = (1, x)`` with a flat prior on
    ``b``; ``f ~ GP(0, s2 exp(-sum_d (x_d - x'_d)^2 / (2 l_d^2)))``;
    ``e ~ N(0, s2 eta)``.  ``b`` and ``s2`` are integrated out / profiled; the
    length scales ``l_d`` and ``eta`` maximise the restricted likelihood.  Fitted
    on a fixed subsample of at most ``n_max`` draws (chosen with ``seed``).

    Parameters
    ----------
    z : ndarray, shape (n_draws, p)
        The standardised inputs.
    n_max : int
        Most draws to fit on (a random subsample fixed by ``seed``).
    seed : int
        Seed of the subsample and of the restarts of the hyperparameter search.
    restarts : int
        Random restarts of the hyperparameter search besides the default start.
    """

    def __init__(self, z: np.ndarray, n_max: int, seed: int, restarts: int):
        n, p = z.shape
        rng = np.random.default_rng([seed, 1])
        idx = np.sort(rng.choice(n, n_max, replace=False)) if n > n_max else np.arange(n)
        self.z, self.idx, self.n, self.p = z, idx, n, p
        self.Xm = z[idx]
        self.Hm = np.column_stack([np.ones(len(idx)), self.Xm])
        h = min(len(idx), _GP_HYPER_SUBSET)
        self.sub = np.sort(rng.choice(len(idx), h, replace=False)) if h < len(idx) else None
        starts = [np.r_[np.zeros(p), np.log(0.1)]]
        for _ in range(restarts):
            starts.append(np.r_[rng.uniform(np.log(0.3), np.log(5.0), p), rng.uniform(np.log(1e-3), 0.0)])
        self.starts = starts
        self.bounds = [(np.log(0.05), np.log(100.0))] * p + [(np.log(1e-6), np.log(1e3))]

    @staticmethod
    def _kernel(Xa, Xb, ell):
        A, B = Xa / ell, Xb / ell
        d2 = (A * A).sum(1)[:, None] + (B * B).sum(1)[None, :] - 2.0 * A @ B.T
        return np.exp(-0.5 * np.maximum(d2, 0.0))

    def _nll(self, theta, X, H, y):
        """-2 restricted log likelihood (up to a constant) and its gradient."""
        m, p = X.shape
        r = H.shape[1]
        ell, eta = np.exp(theta[:p]), float(np.exp(theta[p]))
        C = self._kernel(X, X, ell)
        A = C + eta * np.eye(m)
        try:
            L = _la.cholesky(A, lower=True)
        except np.linalg.LinAlgError:
            return 1e300, np.zeros_like(theta)
        Ai = _chol_inv(L)
        AiH = Ai @ H
        G = H.T @ AiH
        Gl = _la.cholesky(G, lower=True)
        P = Ai - AiH @ _la.cho_solve((Gl, True), AiH.T)
        alpha = P @ y
        yPy = max(float(y @ alpha), 1e-300)
        f = (m - r) * np.log(yPy) + 2.0 * np.log(np.diag(L)).sum() + 2.0 * np.log(np.diag(Gl)).sum()
        N = P - ((m - r) / yPy) * np.outer(alpha, alpha)
        M = N * C
        rows = M.sum(axis=1)
        grad = np.empty(p + 1)
        for d in range(p):
            x = X[:, d]
            grad[d] = 2.0 * ((x * x) @ rows - x @ M @ x) / ell[d] ** 2
        grad[p] = eta * np.trace(N)
        return f, grad

    def _optimise(self, y):
        ysub = y if self.sub is None else y[self.sub]
        Xs = self.Xm if self.sub is None else self.Xm[self.sub]
        Hs = self.Hm if self.sub is None else self.Hm[self.sub]
        best = None
        for th0 in self.starts:
            res = _opt.minimize(self._nll, th0, args=(Xs, Hs, ysub), jac=True, method="L-BFGS-B",
                                bounds=self.bounds, options={"maxiter": 100})
            if best is None or res.fun < best.fun:
                best = res
        theta = best.x
        if self.sub is not None:  # polish on the whole fitting subsample
            res = _opt.minimize(self._nll, theta, args=(self.Xm, self.Hm, y), jac=True, method="L-BFGS-B",
                                bounds=self.bounds, options={"maxiter": 30})
            theta = res.x
        return theta

    def fit(self, y_all: np.ndarray) -> Fit:
        """Fit the process to ``y_all`` on the subsample; predict its mean at every draw.

        Parameters
        ----------
        y_all : ndarray, shape (n_draws,)
            The response (an incremental net benefit) at every draw.

        Returns
        -------
        Fit
            Fitted values at every draw; posterior samples at the subsample.
        """
        mu, sd = _standardise(y_all)
        m = len(self.idx)
        if sd == 0.0:
            return Fit(np.full(self.n, mu), m, const=mu)
        y = (y_all[self.idx] - mu) / sd
        theta = self._optimise(y)
        p = self.p
        ell, eta = np.exp(theta[:p]), float(np.exp(theta[p]))
        X, H = self.Xm, self.Hm
        r = H.shape[1]
        C = self._kernel(X, X, ell)
        lam, U = np.linalg.eigh(C)
        lam = np.maximum(lam, 0.0)
        Ut_y = U.T @ y
        Ut_H = U.T @ H
        winv = 1.0 / (lam + eta)                      # A^-1 = U diag(winv) U'
        G = Ut_H.T @ (winv[:, None] * Ut_H)           # H'A^-1 H
        Gl = _la.cholesky(G, lower=True)
        b = _la.cho_solve((Gl, True), Ut_H.T @ (winv * Ut_y))
        alpha = U @ (winv * (Ut_y - Ut_H @ b))         # A^-1 (y - H b)
        s2 = float(y @ alpha) / max(m - r, 1)
        fitted = np.empty(self.n)
        for lo in range(0, self.n, 2000):
            zc = self.z[lo:lo + 2000]
            Kc = self._kernel(zc, X, ell)
            fitted[lo:lo + 2000] = np.column_stack([np.ones(len(zc)), zc]) @ b + Kc @ alpha
        fitted = mu + sd * fitted
        mean_m = H @ b + C @ alpha
        # Posterior samples at the subsample (docs/voi.md, "Standard error"): the fitted
        # values are Sm y with the smoother Sm = I - eta P; their posterior covariance
        # s2 eta Sm = s2 eta Sm Sm' + s2 eta Sm (eta P) is sampled with the noise part
        # in heteroscedasticity-robust form, Sm diag(r~^2) Sm', weights shared by all
        # strategies, plus the smoothing part from the eigenvectors of eta P.
        AiH = U @ (winv[:, None] * Ut_H)
        P = (U * winv) @ U.T - AiH @ _la.cho_solve((Gl, True), AiH.T)
        P = (P + P.T) / 2
        pi, V = np.linalg.eigh(eta * P)
        pi = np.clip(pi, 0.0, 1.0)
        Sm = np.eye(m) - eta * P
        rt = eta * alpha / np.sqrt(np.clip(eta * np.diag(P), 0.01, 1.0))  # y - fitted, leverage-corrected
        root = V * (np.sqrt(max(s2 * eta, 0.0)) * np.sqrt(pi * (1.0 - pi)))
        Smr = Sm * rt[None, :]

        def sampler(rng, k, w):
            draws = mean_m[:, None] + Smr @ w + root @ rng.standard_normal((m, k))
            return mu + sd * draws

        return Fit(fitted, m, sampler)
