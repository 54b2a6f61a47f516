"""Fit the ``surrogate`` backend to SevenNet-0 labels and write the shipped parameter file.

    python -m nafill.workflows.backends.surrogate.fit [--data DIR] [--out FILE] [--epochs N]

Needs torch (the ``[mlip]`` extra) at fit time only; the model is evaluated in numpy.
Deterministic: fixed seeds, one thread, float64, full-batch optimisation.

Data: every ``*.extxyz(.gz)`` in ``--data`` (default: the committed ``training/`` folder written
by :mod:`nafill.workflows.backends.surrogate.label_sevennet`), frames with ``split == "train"``.
Each target is ``E_SevenNet(frame) - E_SevenNet(host)``, the host being the labelled frame with
the same carbon atoms and no Na (clusters and bulk have no host). Loss: squared energy error per
Na atom (bcc Na weighted up, because every H(x) carries x times the error of mu_Na) plus the
squared force error on the Na atoms.

Forms tried, and why the shipped one:

* The ``emt`` surrogate (EMT Na + Na-C Morse) cannot hold both the 0.73 eV binding of Na2 and the
  1.1 eV cohesion of bcc Na, and its Na-C term does not weaken inside a cluster: small clusters
  overbind by ~1 eV and films wet the walls, so the nucleation barrier vanishes.
* A fixed functional form with a coordination-dependent Na-C strength (second-moment Na-Na,
  Na-C Morse scaled by a function of the Na coordination) is the physical picture, but the
  charge transfer of isolated Na, the site preference and the orifice squeeze each need their own
  terms; a small network over radial fingerprints holds all of them with one fitting procedure,
  stays smooth (tanh), and costs about the same per call in numpy.
* Radial Gaussian fingerprints only (fits "a" to "f", shipped to session 4): the fill frames were
  underfitted (37 meV per Na RMS on the training fills themselves, 153 meV on one Na over a
  wall), and the loss gave 95 % of its weight to the bcc frames.
* Fit "i" (shipped in session 5): the radial fingerprints plus angular moments (l = 1, 2) of
  the Na and carbon neighbours, a 2-layer tanh network per Na, a fixed core repulsion (see
  :mod:`nafill.workflows.backends.surrogate.model`); frames with a host weighted by their Na
  count (the loss follows the frame's energy error, which is what H(x) and the ranking of a
  step's candidates see), bcc down from 1500 to 300. Training fills then 17 meV per Na RMS,
  held-out validation fills 15 meV. ``--radial-only`` fits the old form.
* Fit "l" (shipped in sessions 7-8): the same form and weights on more data: SevenNet-0 fills of the
  0.47, 0.55 and 0.62 nm orifices, active-learning rounds 4 and 5 (the surrogate's own minima in
  training pores) and round 6, ``active_learning.py --drift`` (294 frames: every relaxed
  candidate of the committed training fills re-relaxed by the surrogate and labelled where it
  ends, which labels the surrogate's spurious valleys next to SevenNet-0's minima); 4,158
  fitted frames. ``read_frames`` now drops every training frame whose host is a held-out one (a
  first fit of this data, "new", had seen 17 wall-scan frames of one Na in the 0.45 and 0.60 nm
  held-out orifice hosts: its orifice rows, 0.105 and 0.144 eV, were not a held-out result and it
  was not shipped).

* Fit "p" (session 9): the same form with a wider network (two hidden layers of 40
  instead of 24) on fit "l"'s data plus three active-learning rounds of the cluster regime: round
  7 (fit "l" with the nucleation moves filling 1.62 and 2.00 nm to 20 Na, 256 frames), round 8
  (fit "n" filling 1.48 and 2.18 nm to 16 Na, 155 frames) and round 8d (``--drift`` with fit
  "n", 296 frames); 4,788 fitted frames. Weights ``--weight bcc=600 active-kept=1.5
  active-relax=1.0 atom=5000 cluster=3 --hidden 40 40``: the free atom up from 100 to 5000
  (fit "n"'s cohesive-energy miss, -0.022 eV, was the free atom's own 21 meV error: one frame in
  a loss of ~10^5 weight; now 1 meV).
* Fit "q" (shipped in sessions 9-10; now the committee's first member): fit "p"'s form on its data plus round 9 with fit "p": ``--round
  9 --pores 1.05:16 1.35:16`` (182 frames, 295 SevenNet-0 calls; the small cavities near the
  held-out 1.19 nm, whose clusters fit "p" still overbound), ``--round 9o --pores 0.40:8 0.50:8
  0.65:8`` (88 frames, the orifices) and ``--round 9d --drift`` (287 frames); 5,277 fitted
  frames. Weights ``--weight bcc=600 active-kept=1.5 active-relax=1.0 atom=5000 cluster=10
  --hidden 40 40`` (clusters up from 3 to 10 for Na2).

Measured with ``benchmarks/surrogate_accuracy.py`` (fit "f" -> "i"): Na_n worst 0.039 -> 0.031
eV/atom, H(1) on a wall +0.048 -> +0.013 eV, 1.19 nm path RMS (x = 1-8) 0.198 -> 0.116 eV, 1.82 nm
path RMS (x = 1-16) 0.454 -> 0.559 eV (at 13-16 Na it re-relaxes SevenNet-0's clusters into lower
minima of its own), barrier 2.26 eV at 8 -> 1.85 eV at 8 (SevenNet-0 1.94 at 9), ranking rho
0.67 -> 0.72, same lowest 62 -> 75 %, orifices worse (worst H/x error 0.23 -> 0.29 eV at 0.45 nm,
0.31 -> 0.40 at 0.60 nm), 2.9 -> 4.0 ms per call. The angular form with the old weights (fit
"h") reached 79 % same lowest but collapsed the 1.82 nm clusters from x = 13 (RMS 1.06 eV): the
weighting, not the form alone, is what fixed the fills.

Fit "i" -> "k" (the new data without round 6) -> "l" (shipped to session 8), same benchmark, the 1.19 nm path
now to 16 Na: orifice worst H/x error 0.289 -> 0.091 -> 0.067 eV (0.45 nm) and 0.400 -> 0.125 ->
0.055 eV (0.60 nm), one sign wrong in each (0.45 nm x = 4: -0.01 against +0.01; 0.60 nm x = 2:
-0.03 against +0.00); 1.19 nm RMS x = 1-8 0.116 -> 0.090 -> 0.097 eV, x = 1-16 (k) 0.437 -> (l) 0.326 eV,
barrier 2.41 / 2.45 eV at 9 (SevenNet-0 2.35 at 8); 1.82 nm RMS x = 1-16 0.559 -> 0.577 -> 0.528
eV, barrier 1.95 / 1.96 eV at 8; rho 0.72 (24 steps) -> 0.64 / 0.70 (32 steps), same lowest 75 ->
72 / 75 %; Na_n worst 0.031 -> 0.031 -> 0.036 eV/atom (Na2); bcc a/Ecoh/B within 0.003 A / 0.010
eV / 0.44 GPa. Both cavities still collapse past 11-12 Na: from there the surrogate relaxes
SevenNet-0's clusters 0.5-1.5 eV down into minima of its own.

Data tried and not shipped: a third active-learning round (412 SevenNet-0 labels of the
surrogate's own minima in 1.48 and 2.18 nm to 16 Na and 1.05 nm to 8 Na, ``active_learning.py
--round 3``) added to the data of fit "f". Measured with ``benchmarks/surrogate_accuracy.py``
against fit "f": Na_n worst error 0.030 vs 0.039 eV/atom, 1.19 nm path RMS 0.156 vs 0.198
eV, same lowest candidate 76 vs 67 %, but the 1.82 nm path (x = 1-13) RMS 0.306 vs 0.188 eV (its
mid-size clusters 0.4 eV too high) and rank correlation 0.68 vs 0.70. Not a clear gain, so that round was
not committed.

Session 8, round 7 (committed in session 9 with fit "p"): with the nucleation moves the shipped
fit "l" fills the training cavities 1.62 and 2.00 nm to 20 Na and ``active_learning.py --round 7
--pores 1.62:20 2.00:20`` labels its minima (256 frames, 430 SevenNet-0 calls, about 6 min on
one core). Why: SevenNet-0 relaxing the
surrogate's own minima at 15 and 16 Na of the held-out 1.82 nm path gives H = 1.54 and 1.60 eV
where the surrogate says 0.34 and 0.26 eV (at 13 Na 1.43 against 1.22; at 12 Na the same basin).
Fit "m" (fit "l"'s data + round 7, default weights): 1.82 nm path RMS 0.528 -> 0.251 eV (H(15),
H(16) 0.33, 0.26 -> 1.21, 1.16 eV against SevenNet-0's 1.60, 1.83), 1.19 nm RMS 0.326 -> 0.262,
barriers 2.33 @ 9 and 1.94 @ 8 (SevenNet-0 2.35 @ 8, 1.94 @ 9), but bcc Ecoh -0.021 eV and B
+1.02 GPa (both over their bars), Na_n worst 0.042 eV/atom, orifices 0.132 / 0.089 eV, rho 0.65,
same lowest 59 %: it trades the bars fit "l" meets for the cluster regime. Fit "n" (the same
data, ``--weight bcc=600 active-kept=1.5 active-relax=1.0``): path RMS 0.206 (1.19 nm) and 0.225
eV (1.82 nm), barriers 2.41 @ 9 and 1.95 @ 9, bcc B +0.18 GPa and Na_n 0.033 eV/atom, but Ecoh
-0.022 eV (over), H(1) on a wall +0.029 eV, orifices 0.161 / 0.069 eV, rho 0.71, same lowest
62 % (under 70 %): not shipped either.

Session 9: rounds 8 (``--round 8 --pores 1.48:16 2.18:16`` with fit "n": 155 frames, 241
SevenNet-0 calls) and 8d (``--round 8d --drift`` with fit "n": 296 frames, 296 calls), about 2
min each on one core. Fit "o" (all of it, the weights above, 24 x 24) and fit "p" (the same, 40 x
40), each about 40 min on one core, the other core running the other fit.
Then round 9 (above) with fit "p", and two fits of all of it with 40 x 40: "q" (clusters
weighted 10) and "r" (clusters 3, as "p"), about 43 min each, side by side. Each fit's row
against its bar, measured with ``python benchmarks/surrogate_accuracy.py --parameters FILE``:

- bcc a / Ecoh / B (0.02 A / 0.02 eV / 1 GPa): l -0.003/-0.010/-0.44, o +0.005/-0.000/+0.41,
  p -0.002/-0.002/+0.24, q +0.003/-0.001/+0.07, r -0.005/-0.002/-0.59
- Na_n worst per atom (0.03 eV): l -0.036 (Na2), o -0.029 (Na10), p -0.039 (Na2), q -0.035
  (Na2), r -0.043 (Na2)
- one Na on a wall, height / H(1) (0.1 A / 0.05 eV): l -0.03/+0.008, o +0.00/+0.024, p
  +0.03/+0.023, q +0.02/+0.023, r +0.02/+0.022
- orifice 0.45 / 0.60 nm, worst H/x (0.05 eV, same sign): l 0.067/0.055, o 0.097/0.091, p
  0.128/0.041, q 0.056/0.064, r 0.128/0.056
- 1.19 / 1.82 nm path RMS, x = 1-16 (0.1 eV): l 0.326/0.528, o 0.292/0.164, p 0.089/0.150,
  q 0.082/0.130, r 0.098/0.135
- barriers (SevenNet-0 2.35 @ 8 and 1.94 @ 9): l 2.45 @ 9, 1.96 @ 8; o 2.47 @ 9, 2.00 @ 8; p
  2.34 @ 9, 1.99 @ 8; q 2.37 @ 9, 2.00 @ 8; r 2.37 @ 9, 1.99 @ 8
- ranking, 32 steps, rho / same lowest (0.8 / 70 %): l 0.70/75 %, o 0.73/81 %, p 0.73/78 %,
  q 0.77/81 %, r 0.76/75 %
- ms per call (10): 3.2-3.5 for all (the other core busy)

Fit "q" was shipped (sessions 9-10): it meets the bcc, one-wall, 1.19 nm path, barrier and same-lowest bars,
and is the best or near it on every other row; it misses Na2 (-0.035 eV/atom), the orifices
(0.056 / 0.064 eV, and at 0.60 nm x = 2 it gives -0.01 where SevenNet-0 has +0.003), the 1.82
nm path (0.130 eV) and rho (0.77).

Session 10, tried and not shipped (fit "q" stays). Data: round 10 with fit "q" (``--round 10
--pores 1.62:20 2.00:20``: 226 frames, 366 SevenNet-0 calls; ``--round 10o --pores 0.40:8 0.50:8
0.65:8 0.55:8``: 120 frames, 183 calls; ``--round 10d --drift``: 285 frames) and the Na2 / Na3
curves of ``label_sevennet --part train --only small_clusters`` (51 frames, kind
``cluster-small``: fit "q" overbinds the dimer by 0.07-0.08 eV at every bond from 3.0 to 3.8 A,
though nine dimer frames are in its data). Fits, each row as above, plus the main job's own fill
(1.82 nm) against SevenNet-0's ladder path H(1..16) (fit "q": RMS 0.085 eV, barrier 1.67 @ 7):

- "s": all of it, fit "q"'s weights and ``cluster-small=200``, 3000 epochs: bcc +0.004 / -0.000
  / +0.15; Na_n -0.022 (Na20, met); wall +0.01 / +0.024; orifices 0.087 / 0.077; paths 0.067 /
  0.154; barriers 2.39 @ 9, 1.98 @ 9; rho 0.77 / 81 %; main job RMS 0.363 (1.99 eV @ 9).
- "t": "s" with ``--na-weight-cap 10``: Na_n -0.014 (met); orifices 0.079 / 0.082; paths 0.071 /
  0.171; rho 0.77 / 81 %; its main job collapses to H = 0.11 eV at 14 Na (RMS 0.423).
- "u": fit "q"'s data and the curves only, 2000 epochs: Na_n -0.013 (met); orifices 0.150 /
  0.096; paths 0.124 / 0.211; rho 0.71 / 81 %; main job RMS 0.191.

- "v": fit "q"'s data and round 10 only, 2000 epochs: Na_n -0.037 (Na2); orifices 0.096 /
  0.080; paths 0.162 / 0.161; rho 0.78 / 81 %.

The dimer curves fix Na_n in every fit, but each fit lost the orifices and the 1.82 nm path,
and its own fill moved away from SevenNet-0's path; round 10 without them ("v", fewer epochs)
is worse than fit "q" on every missed row but rho. None replaced fit "q"; neither round 10 nor
the curves are in the committed set.

Session 11, shipped: a committee of three networks, fit "q" and the same fit from seeds 1 and 2
(``--seeds 0 1 2 --weight bcc=600 active-kept=1.5 active-relax=1.0 atom=5000 cluster=10 --hidden
40 40``; the per-Na energy is the three networks' mean, see the model's docstring). Why: the
networks of one data set and one loss, started from other random weights, differ on the held-out
rows by as much as the fits above that changed the data ("s1": Na_n -0.011, orifices 0.039 /
0.040 with a sign wrong, paths 0.129 / 0.129, rho 0.74, same lowest 62 %; "s2": Na_n -0.021,
orifices 0.073 / 0.086, paths 0.107 / 0.103, rho 0.76 / 84 %), so fit "q"'s Na2 miss was in part
where its fit started; the mean keeps the part the three agree on. Each new member 53 min on
one core, two side by side with the benchmarks on the same cores. The committee's row (``surrogate_accuracy.py``): bcc +0.002 / -0.000
/ +0.07; Na_n -0.022 (met); wall +0.02 / +0.018; orifices 0.042 / 0.029 (both met, signs right);
paths 0.118 / 0.104 (the 1.19 nm row now missed: 0.34 eV low at 13 Na, where a re-relaxation
lands in another basin; the 1.82 nm one 0.004 over); barriers 2.36 @ 9, 2.01 @ 9; rho 0.77 / 75
%. Fit "q" alone missed five rows (Na2, both orifices, the 1.82 nm path, rho), the committee
three (both paths, rho). Committees of fits already at hand, measured the same way, none of
which meets more rows:
q + r 0.039 / 0.092 / 0.061 / 0.081 / 0.134 / 0.78 (Na_n / orifices / paths / rho), q + s
0.024 / 0.072 / 0.071 / 0.103 / 0.110 / 0.80, q + r + s 0.031 / 0.090 / 0.068 / 0.082 / 0.146
/ 0.79, q + s + t 0.021 / 0.074 / 0.072 / 0.102 / 0.142 / 0.80 (rounded up: under the bar), q + r + s + t 0.026 /
0.088 / 0.070 / 0.100 / 0.129 / 0.79, the three + s 0.020 / 0.053 / 0.029 (a sign
wrong) / 0.095 / 0.123 / 0.79. A network costs about 0.06 ms of a call (34 Na), so a committee
costs little next to the fingerprints.

Tried after it, not shipped: seeds 3 and 4 (each about 50 min on one core, side by side).
Seeds 0-3: bcc +0.002 / -0.000 / +0.13; Na_n -0.023; wall +0.02 / +0.016; orifices 0.049 /
0.030 (signs right); paths 0.123 / 0.096; barriers 2.38 @ 9, 2.00 @ 9; rho 0.81 / 84 %: every
bar met but the 1.19 nm path (0.057 eV RMS to 12 Na, then 0.36 eV low at 13 Na). But as the
ladder's cheap level (``benchmarks/ladder.py --threads 1 --pores 1.19:8 1.82:16``, run beside
the test suite and the study) it let the 1.82 nm path keep a structure 0.138 eV above the naive
search's at x = 6 (7.0 and 6.2 SevenNet-0 evaluations per Na, worst +0.016 and +0.138 eV),
where the three-network committee kept +0.001 and +0.016 (7.9 and 7.0 per Na). Its main job: barrier 1.65
eV at n* = 7, full at 33 Na, 8,900 evaluations. A held-out accuracy gain against a ladder path
miss at one step: left for a decision with more than one ladder run. Seeds 0-4: Na_n -0.024,
orifices 0.057 / 0.027 (a sign wrong), paths 0.114 / 0.091, rho 0.78 / 75 %.

Every orifice and path figure above is against the held-out fills' structures as relaxed to 0.05
eV/A. From session 12 the benchmark compares minima at the protocol's 0.01 eV/A on both sides
(``label_sevennet --only <fill>_tight``; see :mod:`.validation`): the shipped committee then has
orifices 0.043 / 0.032 (the 0.60 nm sign at x = 2 wrong: +0.0005 vs -0.006 eV) and paths 0.097
/ 0.062, both met; its ranking row is still at 0.05 eV/A. The seeds 0-3 committee measured the
same way: orifices 0.049 / 0.029 (the same sign wrong), paths 0.124 / 0.100 (both missed: 0.36
eV low at 13 Na in the 1.19 nm cavity, 0.26 at 15 in the 1.82 nm one), rho 0.81 / 84 %, so the
shipped three networks stayed.

Session 13, shipped: the three networks of session 11 fine-tuned (``--init``, 600 epochs from
``--lr 1e-3``, about 13 min per network on one core) with a step-relative energy term
(``--rank-weight 0.05``) on the data plus round 11d (``active_learning.py --drift --round 11d``
with the session-11 committee: 268 frames, 268 SevenNet-0 calls, about 6 min on one core).
Why: at SevenNet-0's own relaxed candidates the session-11 committee already ranked the held-out
steps well (single points: rho 0.89, same lowest 94 %); the ranking row fell to 0.77 when each
candidate was re-relaxed, by relaxation drops of 0.2-1.0 eV at some candidates from 5 Na on (the
surrogate sliding into minima of its own). The loss so far weighted each frame's error alone,
so an error common to a step (which changes no choice) cost as much as one that reorders it. The
new term is the squared error of each relaxed frame less its step group's mean error, a group
being every relaxed frame of one host and one Na count: SevenNet-0's candidates together with
the surrogate's drift end points, so the surrogate's own valleys are priced against the minima
they compete with. On the training groups its RMS (committee 50 meV; members 69 / 49 / 49 meV)
went to 31-34 meV per member. Each row as above (0.01 eV/A on both sides; ranking at 0.05 eV/A; the
paired rho difference per step against the control with its standard error over 32 steps):

- control, ``--rank-weight 0``, same fine-tuning: Na_n -0.020; orifices 0.040 / 0.028 (0.60 nm
  sign wrong); paths 0.113 / 0.074; barriers 2.35 @ 9, 1.99 @ 9; rho 0.77 / 78 %.
- ``--rank-weight 0.02``: Na_n -0.021; orifices 0.039 / 0.028 (0.60 nm sign wrong); paths 0.105 /
  0.058; barriers 2.36 @ 9, 1.96 @ 9; rho 0.81 / 81 % (+0.044 +- 0.030 against the control).
- ``--rank-weight 0.1``: Na_n -0.022; orifices 0.035 / 0.033 (0.60 nm sign wrong); paths 0.098 /
  0.073; rho 0.80 (0.797) / 81 % (+0.031 +- 0.026).
- ``--rank-weight 0.05`` and round 11d (shipped): Na_n -0.022; orifices 0.034 / 0.033, every sign
  right (0.60 nm at 2 Na +0.006 against SevenNet-0's +0.0005 eV/Na); paths 0.098 / 0.080;
  barriers 2.36 @ 9, 1.95 @ 9; rho 0.79 (0.790) / 84 % (+0.023 +- 0.021 against the control):
  every bar met but the rank correlation.
- the last two committees joined (six networks): paths 0.101 / 0.060, rho 0.79 / 75 %.
- after shipping, ``--rank-weight 0.1`` and round 11d (not shipped: rho still under, and every
  figure in the README would need re-measuring): Na_n -0.023; orifices 0.031 / 0.039, signs right;
  paths 0.095 / 0.085; barriers 2.36 @ 9, 1.94 @ 9; rho 0.79 (0.793) / 88 % (+0.027 +- 0.023).

The rank term moves rho by one to one and a half standard errors of the paired 32-step mean;
the fine-tuning without it did not move rho. The 0.60 nm sign at 2 Na is a knife edge of the reference: SevenNet-0's H/x there is
+0.0005 eV, between -0.19 eV at 0.55 nm and +0.09 eV at 0.62 nm (training fills), so any model
error of a few meV decides it.

Session 14, not shipped (the test that pins the shipped file to the committed data keeps these
rounds out of ``training/``): two more drift rounds, 12d with the shipped committee (265 frames,
265 SevenNet-0 calls) and 13d with committee A (259), each about 6 min on one core; each
committee fine-tuned 300 epochs from the one before (``--init``, ``--lr 1e-3``; about 6 min per
network on one core). Rows as above, the paired rho difference against the shipped committee:

- A: the shipped committee + round 12d, ``--rank-weight 0.05``: Na_n -0.021; orifices 0.029 /
  0.035, signs right; paths 0.092 / 0.078; barriers 2.36 @ 9, 1.96 @ 9; rho 0.799 / 88 %
  (+0.010 +- 0.010).
- B: the same, ``--rank-weight 0.1``: Na_n -0.022; orifices 0.028 / 0.040, signs right; paths
  0.090 / 0.080; barriers 2.37 @ 9, 1.95 @ 9; rho 0.797 / 91 % (+0.008 +- 0.014).
- C, the control: the shipped committee, no new data, 300 epochs more at weight 0.05: Na_n -0.022;
  orifices 0.030 / 0.034; paths 0.098 / 0.079; barriers 2.36 @ 9, 1.95 @ 9; rho 0.777 / 84 %
  (-0.013 +- 0.008; A against C +0.023 +- 0.012, mostly C's loss).
- D: A + round 13d, weight 0.05: orifices 0.027 / 0.032 but the 0.60 nm sign at 2 Na wrong
  (-0.000); paths 0.091 / 0.078; rho 0.788 / 84 % (-0.012 +- 0.012 against A).
- A and B joined (six networks): rho 0.782 / 88 %; A and D joined: 0.798 / 88 %.

Every committee since session 11 sits at rho 0.77-0.80, the differences within about one standard
error. Measured with A (``benchmarks/surrogate_accuracy.py --reference-at-ends``: SevenNet-0
single points at the surrogate's relaxed candidates): in 35 of the 320 candidates the
surrogate's relaxation ends in a structure SevenNet-0 itself puts 0.05-0.94 eV *below*
SevenNet-0's own relaxed candidate (2 end more than 0.05 eV above it, by at most 0.055 eV). 21
of the 35 are in steps with rho under 0.8 (1.19 nm at 5-8 and 14 Na, 1.82 nm at 12-13), the
other 14 in steps that rank at 0.87-1.00. SevenNet-0's own relaxations on to 0.01 eV/A
(``<fill>_tight_all``, both cavities) drop more than 0.05 eV at 28 of the 35
(they were shoulders), and at many other candidates too (up to 0.92 eV). On the surrogate's end
points the two models rank alike (rho 0.90, same lowest in every step); on the 16 steps with no
such candidate the rank correlation is 0.858 at the references and 0.870 at the end points. But
with the references relaxed on to 0.01 eV/A (both sides at 0.01), the shipped committee ranks
*worse*: 1.82 nm rho 0.844, same lowest 14 of 16 (0.894, 15 of 16 at 0.05); 1.19 nm rho 0.523,
9 of 16 (0.69, 12 of 16 at 0.05); both 0.683 / 72 % (0.790 / 84 %). SevenNet-0's deep minima of the 1.19 nm cavity from 6
Na on are what the surrogate orders poorly; no fit above was judged on them.

Session 15, not shipped (a candidate, ``training/pending/na_c_candidate_g.json`` at commit a29e562,
sha1 b8fb9513634f; its data now in ``training/``). Judged on the ranking row at 0.01 eV/A
on both sides (the held-out row chose among them: model selection, said plainly). New data, all
``split = train``: every candidate of the training fills 1.05, 1.35, 1.48 nm (and 1.62 nm to 11
Na in these fits; the finished file, x = 1-16, 833 frames, 4,111 calls, is now in ``training/``) relaxed on by SevenNet-0 from the fills' 0.1 eV/A to 0.01 eV/A, every 5th frame of the way kept
(``label_sevennet --part train --only fill_c105_tight_all ...``: 1,143 frames, 5,618 SevenNet-0
calls for the three finished ones, about 45 min of two cores; the relaxations drop by up to
0.95 eV, 1.62 nm at 11 Na); drift round 14d from their end points (``active_learning --drift --drift-fills ...
--drift-fmax 0.01``, 108 frames); active round 15, committee E's own fills of 1.12 and 1.26 nm to
16 Na (131 frames, 297 calls, 3 min), the widest gap of the training spacings. Each committee
fine-tuned 300 epochs (``--init``, ``--lr 1e-3``, ``--rank-weight 0.05``, the shipped weights;
about 7 min per network on one core). Rows as above; the paired rho difference against the
shipped committee over the 32 steps (both at 0.01 eV/A):

- E: the shipped committee + the tight files (1.62 nm to 5 Na): Na_n -0.022; orifices 0.032 /
  0.034; paths 0.099 / 0.078; barriers 2.36 @ 9, 1.95 @ 9; rho 0.704 / 78 % (1.19 nm 0.531, 1.82
  nm 0.877; +0.020 +- 0.023).
- F: E + the 1.62 nm file to 11 Na + round 14d: Na_n -0.022; orifices 0.029 / 0.039; paths 0.096 /
  0.078; barriers 2.35 @ 9, 1.95 @ 9; rho 0.730 / 78 % (1.19 nm 0.556, 1.82 nm 0.905; +0.047 +-
  0.024).
- G: F's data + round 15, fine-tuned from E: Na_n -0.023; orifices 0.030 / 0.036, signs right;
  paths 0.092 / 0.063; barriers 2.35 @ 9, 1.95 @ 9; rho 0.763 / 81 % (1.19 nm 0.624, 1.82 nm
  0.902; +0.080 +- 0.024): every bar met but rho. Not shipped in session 15 for lack of time to
  re-measure every README figure it changes (main job, ladder, dry run, overbinding, study); as
  the ladder's cheap level (``benchmarks/ladder.py --threads 1 --pores 1.19:8 1.82:16
  --no-compare-learning --set seed=N --parameters G``), seeds 0 / 1 / 2: 1.19 nm 6.0 / 5.9 / 6.0
  SevenNet-0 evaluations per Na, worst H - naive +0.016 / +0.015 / +0.016 eV; 1.82 nm 5.8 / 5.0 / 5.3,
  worst +0.137 / +0.006 / +0.089 eV (both misses at x = 6). The shipped committee (seed 0 measured
  again the same day, identical to the README row): 6.6 / 5.6 / 5.1 and +0.016 / +0.015 / +0.013;
  5.9 / 5.7 / 5.1 and +0.050 / +0.015 / +0.021. G is cheaper on average and misses issue 13's
  0.02 eV bar as often (2 of 6 runs), by more.

Why the 1.19 nm steps stay low, measured (``benchmarks/surrogate_accuracy.py`` now prints it,
no SevenNet-0 run): unrelaxed, at SevenNet-0's own 0.01 eV/A candidates, committee F ranks the 32
steps at rho 0.888 (the 1.19 nm steps at 8, 11-14 Na: 0.70-0.92); re-relaxed, 56 of the 320
candidates slide more than 0.1 eV down its surface (up to 0.84 eV; committee E at 1.19 nm, 8 and
12-14 Na: Na moved up to 2.45 A), and those steps rank at -0.15 to 0.50. Where they slide to (shipped committee, SevenNet-0 relaxing on
from each of the surrogate's end points to 0.01 eV/A, 1.19 nm): at 12 Na SevenNet-0 lands 0.00-0.53
eV *below* its own candidate (6 of 10 by more than 0.1 eV), at 13 Na 0.05-0.36 eV below in all
10, at 14 Na up to 0.50 eV below; ranked in the same basins the two models agree at rho 0.79,
0.60, 0.95 where the row has -0.19, -0.20, 0.24, and the surrogate's favourite, relaxed by
SevenNet-0, is 0.364 and 0.240 eV below SevenNet-0's best candidate at 12 and 13 Na (+0.045 at 14).
SevenNet-0's naive candidates there are high local minima that its BFGS stopped in; the surrogate's
smoother surface slides out of them into basins SevenNet-0 itself puts lower. The row, as defined,
counts that against the surrogate.

Session 16, **shipped** (sha1 b6aafb2bc638): G fine-tuned twice more, each step 300 epochs as in
session 15, the data moved from ``training/pending/`` into ``training/`` (the pinned test holds
the shipped file to exactly that set). New labels, all ``split = train``: round 16 (committee G's
own fills of 1.70 and 1.90 nm to 12 Na: 102 frames, 150 calls), drift round 16d (G at 0.01 eV/A
from fill_c135/c148_tight_all at 6 Na on and the whole fill_c162_tight_all at 5 Na on: 141
frames), and the motif rounds 17a/17b (``active_learning --motifs``, new, with committee H: at
each step of its fills of 1.70, 1.90 (to 10 Na), 2.00 (to 8), 1.12 and 1.26 nm (to 14), from 3
Na on, the first four relaxed candidates in the ladder's motif-diverse order, each labelled and
relaxed 10 steps by SevenNet-0: 819 frames, 1,232 calls, 11 min of two cores). Rows as above,
the paired rho difference against session 13's committee:

- H: from G, on ``training/*`` + every pending file, fill_c162_tight_all whole, + 16 + 16d
  (7,729 frames): Na_n -0.024; orifices 0.030 / 0.037, signs right; paths 0.089 / 0.061;
  barriers 2.36 @ 9, 1.95 @ 9; rho 0.743 / 78 % (+0.060 +- 0.027); unrelaxed rho 0.886, 46 slides
  over 0.1 eV (0.56 eV). As the ladder's cheap level (seed 0) 6.1 / 5.1 SevenNet-0 evaluations
  per Na, worst H - naive +0.016 / **+0.135** eV (1.82 nm, 6 Na, as G's +0.137); seed 1: 5.2 /
  6.0, +0.013 / +0.011.
- shipped: from H, on H's data + 17a/17b (8,451 frames; ``--weight ... active-motif=1.5``):
  Na_n -0.024; orifices 0.029 / 0.040, signs right; paths 0.095 / 0.057; barriers 2.36 @ 9, 1.94
  @ 9; rho 0.693 / 81 % (1.19 nm 0.489, 1.82 nm 0.898; +0.010 +- 0.033); unrelaxed rho 0.879, 46
  slides (0.71 eV). Ladder, seeds 0 / 1 / 2: 1.19 nm 4.9 / 4.9 / 4.4 evaluations per Na, worst
  +0.016 / +0.032 / +0.032 eV (x = 4); 1.82 nm 5.3 / 5.6 / 9.7, worst +0.013 / +0.013 / +0.020
  (1.82 nm at 6 Na: -0.071 / -0.087 / -0.010 eV). Session 13's committee: 5.8 and 5.6 on average,
  worst +0.050 eV, 2 of 6 runs over issue 13's 0.02 eV bar, as here.

Shipped over G and H, which rank the held-out steps better, because the ladder is the
surrogate's production use and the motif rounds removed the 1.82 nm / 6 Na miss (the choice
made on held-out rows and held-out ladder runs: model selection, said plainly). Its own
single-fidelity fill of 1.82 nm (the README's main job) keeps structures 0.12-0.35 eV above the
ladder's SevenNet-0 path from 8 to 16 Na, though relaxed by it those SevenNet-0 structures are
within 0.062 eV RMS of SevenNet-0's H: its search, not its energies, misses them (H's own fill:
0.99-1.24 eV at 11-16 Na, G's 1.22-1.39). Session 17 gave the surrogate's own fills the ladder's
search at every step (``Backend.searches_every_step``): the main job's H(12..16) is now 1.01 0.98 0.92 1.03
1.14 eV, within 0.06 eV of SevenNet-0 relaxing the same structures.

Session 17, not shipped: J, the shipped committee fine-tuned 300 epochs as above with the force
term five times heavier (``--force-weight 0.1``; the question: does the surrogate slide out of
SevenNet-0's held-out minima because its forces there are wrong? At those minima the shipped
committee's largest force on a Na is 0.10-0.19 eV/A at 1.19 nm from 10 Na, median 0.11).
Training force RMS 0.062-0.068 eV/A (validation 0.066-0.080). Rows: bcc +0.006 / -0.002 /
+0.17; Na_n -0.026; wall +0.00 / +0.021; orifices 0.032 / 0.045, signs right; paths **0.103**
(missed) / 0.046; barriers 2.38 @ 9, 1.96 @ 9; rho 0.712 / 75 %; unrelaxed rho 0.888; 44 slides
over 0.1 eV (0.71): the slides stay. Nor is the missed row an artefact of near-degenerate
candidates: with SevenNet-0's (and the surrogate's) energies within 2-30 meV of each other counted
as ties (single linkage), the shipped committee's rho is 0.66-0.73 (0.693 without).

Session 18, two more readings of the row ruled out (no fit changed): (1) the relaxation's step
bound: the surrogate re-relaxing SevenNet-0's candidates with ``maxstep_A=0.04`` instead of 0.2
ranks at rho 0.700 (1.19 nm 0.494, 1.82 nm 0.907), 44 slides over 0.1 eV: its valleys are there
however small its steps. (2) Ranking as the search ranks, both models relaxing the *same random
starts*: the held-out fills' starts replayed from their seeds (``label_sevennet.naive_candidate``
with the fill's generator and its kept structures; SevenNet-0 relaxing three of them reproduced
the stored energies and step counts exactly) and relaxed by the surrogate to 0.01 eV/A rank at rho
0.572 / 69 % against SevenNet-0's 0.01 eV/A candidates (1.19 nm 0.381, 1.82 nm 0.763), 0.709 /
84 % at 0.05 eV/A on both sides: from one start the two surfaces lead to different basins more
often than from SevenNet-0's own minima.

Session 19, not shipped (the data and the best candidate in ``training/pending/``, outside the
fitted set: ``active_18a.extxyz.gz``, ``active_18b.extxyz.gz``, ``na_c_candidate_k.json``). The
gap the row points at: SevenNet-0 minima at 0.01 eV/A from random starts, the kind the held-out
1.19 nm fill is made of, stop at 6 Na below 1.35 nm in the training data (``fill_c105``). New:
``active_learning --naive`` (rounds 18a / 18b: ``--pores 1.12:16`` / ``1.26:16 --naive-count 3``
with the shipped committee): at each step of the surrogate's fill from 5 Na on, three naive random
candidates relaxed by SevenNet-0 to 0.01 eV/A, every 5th frame kept: 634 + 519 frames, 2,949 +
2,385 SevenNet-0 calls, 44 and 36 min of one core each, side by side (each file also holds its
empty host, labelled afterwards: the fit needs E(host) from the same folder). The shipped committee
re-relaxing these 36 + 36 minima slides as on the held-out cavity (1.26 nm: 5 of 36 over 0.1 eV,
up to 0.33; per-step rho of three candidates 0.42). Each committee fine-tuned 300 epochs from the
shipped one on the committed data plus 18a/18b (9,495 frames; the shipped weights plus
``active-naive=1.5``; about 11 min per network, two side by side). Rows as above, the paired rho
difference per step against the shipped committee (which measured 0.693, 1.19 nm 0.489, 1.82 nm
0.898 again the same day):

- K, ``--rank-weight 0.05``: bcc +0.003 / -0.001 / +0.06; Na_n -0.024; wall +0.02 / +0.016;
  orifices 0.027 / 0.043, signs right; paths **0.115** (missed: 0.42 eV low at 13 Na, a
  re-relaxation into another basin) / 0.055; barriers 2.36 @ 8, 1.93 @ 9; rho 0.734 / 81 % (1.19
  nm 0.571, 1.82 nm 0.899; +0.042 +- 0.037); unrelaxed rho 0.895, 47 slides over 0.1 eV (0.58 eV).
- L, ``--rank-weight 0.1``: Na_n -0.027; orifices 0.024 / 0.048; paths **0.113** (0.41 eV low at 13
  Na) / 0.059; rho 0.723 / 78 % (1.19 nm 0.606, 1.82 nm 0.841; +0.030 +- 0.044); 50 slides.
- the shipped committee and K joined (six networks): paths **0.101** (0.37 eV low at 13 Na) /
  0.056; rho 0.730 / 81 % (+0.037 +- 0.030).

The data closest to the held-out cavity moved the row by about one standard error, as every round
since session 13, and cost the 1.19 nm path row at 13 Na, where the surrogate re-relaxing
SevenNet-0's kept structure slides into a basin 0.4 eV lower. Thirteen committees now measured on the
row at 0.01 eV/A span 0.68-0.76 (the ten of sessions 13-17 and these three); none shipped.

Session 20, a richer fingerprint, not shipped. The question: is the row missed because the form
cannot hold SevenNet-0's forces (K's networks fit the Na forces to 0.073-0.079 eV/A RMS on their
own training frames; session 17's five-fold force weight moved that by under 0.01)? New:
``--angular-powers P``, the angular power spectrum of
:func:`~nafill.workflows.backends.surrogate.model.power_spectrum` (every pair of the three
channels of each angular basis, ``(u_j . u_k)^p`` for p = 0..P: 24 columns per block at P = 3
instead of 6, 68 inputs instead of 32), which holds the l = 1, 2 moments as linear combinations,
so a shipped network carries over exactly (:func:`carry_network`: the same energies, zero
weights on the new inputs) and is fine-tuned from there. N: the three shipped networks carried to
P = 3 and fine-tuned as K (300 epochs, ``--lr 1e-3 --rank-weight 0.05``, the shipped weights +
``active-naive=1.5``, the committed data + 18a/18b, 9,495 frames; 24.5 min per network on one
core, two side by side). Training force RMS 0.082 / 0.075 / 0.075 eV/A at the start -> 0.075 /
0.070 / 0.069 (validation 0.069 / 0.063 / 0.064). Rows (``surrogate_accuracy.py --parameters``):
bcc +0.001 / -0.000 / +0.04; Na_n -0.028; wall -0.00 / +0.012; orifices 0.030 / 0.041, signs
right; paths **0.115** (0.42 eV low at 13 Na, as K) / 0.040; barriers 2.37 @ 8, 1.93 @ 9; rho
0.690 / 75 % (K 0.734 / 81 %, the shipped 0.693 / 81 %); unrelaxed rho 0.902 (K 0.895); 42
slides over 0.1 eV (0.55 eV); 16.0 ms per call (64 C + 34 Na, one other job on the second core;
timed again side by side with the shipped committee, the test suite on the other core, two
rounds of 200 calls: 16.6 and 10.6 ms against 7.9 and 7.8). The fingerprint fits the energies at
SevenNet-0's minima a little better and does not keep its basins: the capacity of the form is
not what misses the row. Not shipped (the rank row no better, the 1.19 nm path row missed, the
call over its 10 ms bar); the parameter file is not committed (the command above rebuilds it).

Where the forces are wrong, measured on the shipped committee (single points at SevenNet-0's 0.01
eV/A minima with at least 5 Na; SevenNet-0's largest Na force there <= 0.010 eV/A): the
surrogate's largest force on a Na is, median / 90th percentile, 0.066 / 0.090 eV/A at the
*training* minima of 1.05 nm (6 minima), 0.053 / 0.100 at 1.35 nm (24), 0.063 / 0.079 at 1.48 nm
(24), 0.070 / 0.090 at 1.62 nm (36); 0.113 / 0.138 at round 18a's minima of 1.12 nm (36, not in
the shipped fit); 0.100 / 0.130 at the held-out 1.19 nm minima (120) and 0.069 / 0.090 at 1.82
nm (120). The loss leaves the training minima themselves 0.05-0.10 eV/A off zero force (it
weights every frame's forces alike, the minima a few per cent of them): a force term weighted at
SevenNet-0's minima is the lever this suggests. M tried it: ``--minimum-force-weight 0.1`` (the
squared Na force error over the frames whose labelled Na forces are all <= 0.01 eV/A: 1,770 of
the 84,076 fitted Na), otherwise as K, from the shipped networks (17 min per network, three
jobs on two cores). The force RMSE at those minima, per network (fitted / validation minima):
shipped 0.070 / 0.062 and 0.060 / 0.058, K 0.061 / 0.060 and 0.054 / 0.056, M 0.039 / 0.047,
0.036 / 0.044, 0.038 / 0.048; the step-relative term rose from 31-33 to 38-41 meV. Rows: bcc
+0.001 / -0.002 / +0.10; Na_n -0.023; wall +0.00 / +0.022; orifices 0.037 / **0.051** (missed by
0.001; signs right); paths **0.102** / 0.045; barriers 2.36 @ 9, 1.96 @ 9; rho 0.717 / 78 %
(1.19 nm 0.540, 1.82 nm 0.895); unrelaxed rho 0.913; 42 slides over 0.1 eV (0.74 eV); 8.6 ms
per call (the test suite on the other core). Its first two networks alone: rho 0.747 / 78 %
(1.19 nm 0.604), paths 0.104 / 0.049, orifices 0.038 / 0.018. Within the 0.68-0.76 of the
committees before it: the minima's forces halve on the training side, the held-out 1.19 nm
minima still slide. Not shipped; not committed.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from ase.io import read

from nafill.workflows.backends.emt_surrogate import image_shifts, wrap_positions
from nafill.workflows.backends.surrogate.model import (
    PARAMETERS_FILE,
    Network,
    RadialBasis,
    SurrogateParameters,
    committee,
    fingerprints,
    moments_from_power_spectrum,
    scatter_rows,
)

DATA_DIR = Path(__file__).resolve().parent / "training"

# the fingerprint (fixed before the fit)
NA_NA = RadialBasis(np.linspace(2.6, 7.0, 10), 0.5, 7.5)
NA_C = RadialBasis(np.linspace(1.9, 6.0, 10), 0.45, 6.5)
# angular moments (l = 1, 2) of the first neighbour shells; cutoffs within the radial ones
NA_NA_ANG = RadialBasis(np.array([3.3, 4.2, 5.2]), 0.6, 6.0)
NA_C_ANG = RadialBasis(np.array([2.4, 3.2, 4.2]), 0.5, 5.5)
CORE_NA_NA = (3.0, 2.9)   # A eV/A^3, r_c A
CORE_NA_C = (5.0, 2.0)
HIDDEN = (24, 24)
MINIMUM_FMAX_EV_A = 0.0101  # a labelled frame whose largest Na force is under this is a minimum
KEEP_IN_FIT = ("bcc", "atom")  # never in the random validation holdout
WEIGHTS = {"active-kept": 3.0, "active-relax": 2.0, "bcc": 300.0, "bcc-rattled": 10.0, "atom": 100.0, "one-wall": 20.0, "pore-scan": 5.0, "pore-relax": 5.0}


def fit_form(angular: bool = True, angular_powers: int | None = None) -> SurrogateParameters:
    """The fingerprint a fit computes (no networks): the bases and core terms above, the angular
    moments (l = 1, 2), or with ``angular_powers`` P the angular power spectrum to p = P."""
    ang = (NA_NA_ANG, NA_C_ANG) if angular else (None, None)
    return SurrogateParameters(NA_NA, NA_C, CORE_NA_NA, CORE_NA_C, [], {}, *ang,
                               angular_powers if angular else None)


def host_key(atoms) -> str:
    """Hash of the host atoms (positions rounded to 1e-4 A) and the cell."""
    host = atoms.numbers != 11
    blob = np.round(atoms.positions[host], 4).tobytes() + np.round(np.array(atoms.cell), 4).tobytes()
    return hashlib.sha1(blob).hexdigest()


def read_frames(data_dir: Path, split: str | None = "train") -> list:
    # by name, compressed or not: a scratch folder and the committed (gzipped) one give one order
    files = sorted(glob.glob(str(data_dir / "*.extxyz")) + glob.glob(str(data_dir / "*.extxyz.gz")),
                   key=lambda f: Path(f).name.removesuffix(".gz"))
    frames = []
    for f in files:
        for a in read(f, index=":"):
            a.info["source"] = Path(f).name
            frames.append(a)
    hosts = {host_key(a): a.get_potential_energy() for a in frames
             if (a.numbers != 11).any() and (a.numbers == 11).sum() == 0}
    # no training frame may share a host with a held-out fill (the wall scans once ran through
    # the 0.45 and 0.60 nm orifices: one Na in the very hosts the validation fills)
    test_hosts = {host_key(a) for a in frames if a.info.get("split") == "test" and (a.numbers != 11).any()}
    out = []
    for a in frames:
        if split and a.info.get("split") != split:
            continue
        if split == "train" and (a.numbers != 11).any() and host_key(a) in test_hosts:
            continue
        n_na = int((a.numbers == 11).sum())
        if n_na == 0:
            continue
        if (a.numbers != 11).any():
            k = host_key(a)
            if k not in hosts:
                continue
            a.info["e_host"] = hosts[k]
        else:
            a.info["e_host"] = 0.0
        out.append(a)
    return out


# relaxed structures (minima of one potential or the other) whose energies a step compares; scans
# and rattled copies are off-minimum and stay out of the step groups
NOT_IN_STEP_GROUPS = ("fill-rattled", "pore-scan", "one-wall", "fill-host", "bcc-rattled")


def step_groups(frames: list) -> np.ndarray:
    """Group id per frame for the step-relative loss, -1 for a frame in no group.

    A group is every relaxed frame (``final`` not False, kind not in :data:`NOT_IN_STEP_GROUPS`)
    with the same host (:func:`host_key`) and the same Na count: the candidates of one filling
    step, SevenNet-0's and the surrogate's own minima (active-learning rounds) together, so the
    loss sees the energy differences a step's choice is made on. Groups of one frame get -1."""
    keys = []
    for a in frames:
        confined = (a.numbers != 11).any()
        relaxed = a.info.get("final", True) is not False and a.info.get("kind") not in NOT_IN_STEP_GROUPS
        keys.append((host_key(a), int((a.numbers == 11).sum())) if confined and relaxed else None)
    count: dict = {}
    for k in keys:
        if k is not None:
            count[k] = count.get(k, 0) + 1
    ids: dict = {}
    out = np.full(len(frames), -1)
    for i, k in enumerate(keys):
        if k is not None and count[k] > 1:
            out[i] = ids.setdefault(k, len(ids))
    return out


def split_frames(frames: list, fraction: float = 0.1, seed: int = 0) -> tuple[list, list]:
    """(fitted, validation) frames: a seeded random ``fraction`` held back for the per-epoch
    validation report; the reference frames (bcc E(a), the free atom) define mu_Na and the
    cohesive energy, so they are always fitted."""
    rng = np.random.default_rng(seed)
    val = (rng.random(len(frames)) < fraction) & np.array([f.info.get("kind") not in KEEP_IN_FIT for f in frames])
    return [f for f, v in zip(frames, val) if not v], [f for f, v in zip(frames, val) if v]


def frame_fingerprints(params: SurrogateParameters, a):
    """Fingerprints of one frame (as the calculator computes them) and its core forces on Na."""
    na = np.where(a.numbers == 11)[0]
    carbon = np.where(a.numbers == 6)[0]
    cell = np.array(a.cell)
    npos = wrap_positions(a.positions[na], cell, a.pbc)
    c_images = None
    if len(carbon):
        shifts = image_shifts(cell, a.pbc, params.na_c.cutoff_A)
        cpos = wrap_positions(a.positions[carbon], cell, a.pbc)
        c_images = (cpos[None] + shifts[:, None]).reshape(-1, 3)
    fp = fingerprints(params, npos, cell, a.pbc, c_images, len(carbon))
    f = fp.nn_core_dr[:, None] * fp.nn_u
    f_core = scatter_rows(fp.nn_i, f, len(na)) - scatter_rows(fp.nn_j, f, len(na))
    if len(fp.nc_i):
        f_core += scatter_rows(fp.nc_i, fp.nc_core_dr[:, None] * fp.nc_u, len(na))
    return fp, f_core, na


def build_batch(params: SurrogateParameters, frames: list, weights: dict[str, float] | None = None,
                na_weight_cap: float | None = None) -> dict:
    """Concatenate every frame's fingerprints into global arrays (atom indices offset).

    ``weights``: loss weight per frame kind (default :data:`WEIGHTS`); ``na_weight_cap``: the
    n_Na factor of a confined frame's weight capped there (None: not capped)."""
    weights = WEIGHTS if weights is None else weights
    G, frame_of, nn_i, nn_j, nn_u, nn_dG, nc_i, nc_u, nc_dG = [], [], [], [], [], [], [], [], []
    e_target, f_target, n_na, w, kinds, at_minimum = [], [], [], [], [], []
    ang = {"na": ([], [], []), "c": ([], [], [])}  # centre, neighbour (Na only), J per block
    off = 0
    for k, a in enumerate(frames):
        fp, f_core, na = frame_fingerprints(params, a)
        G.append(fp.G)
        frame_of.append(np.full(len(na), k))
        nn_i.append(fp.nn_i + off)
        nn_j.append(fp.nn_j + off)
        nn_u.append(fp.nn_u)
        nn_dG.append(fp.nn_dG)
        nc_i.append(fp.nc_i + off)
        nc_u.append(fp.nc_u)
        nc_dG.append(fp.nc_dG)
        for key, block in (("na", fp.ang_na), ("c", fp.ang_c)):
            if block is not None:
                ang[key][0].append(block.centre + off)
                ang[key][1].append(block.neighbour + off)
                ang[key][2].append(block.J)
        kinds.append(str(a.info.get("kind")))
        e_target.append(a.get_potential_energy() - a.info["e_host"] - fp.e_core)
        f_label = a.get_forces()[na]
        f_target.append(f_label - f_core)
        # SevenNet-0's minima at the protocol's 0.01 eV/A: the Na of these frames feel no force
        at_minimum.append(np.full(len(na), bool(np.linalg.norm(f_label, axis=1).max() <= MINIMUM_FMAX_EV_A)))
        n_na.append(len(na))
        # confined frames: the per-Na error weighted by n_Na, so the loss follows the error of the
        # frame's energy (what H(x) and the ranking of a step's candidates see)
        confined = float(len(na)) if (a.numbers != 11).any() else 1.0
        if na_weight_cap is not None:
            confined = min(confined, na_weight_cap)
        w.append(weights.get(a.info.get("kind"), 1.0) * (3.0 if a.info.get("final") else 1.0) * confined)
        off += len(na)
    cat = np.concatenate
    out = {"G": cat(G), "frame_of": cat(frame_of), "nn_i": cat(nn_i), "nn_j": cat(nn_j),
           "nn_u": cat(nn_u), "nn_dG": cat(nn_dG), "nc_i": cat(nc_i), "nc_u": cat(nc_u),
           "nc_dG": cat(nc_dG), "e_target": np.array(e_target), "f_target": cat(f_target),
           "n_na": np.array(n_na, float), "w": np.array(w), "n_frames": len(frames), "kinds": kinds,
           "group": step_groups(frames), "at_minimum": cat(at_minimum)}
    for key, (centre, neighbour, J) in ang.items():
        if centre:
            out[f"ang_{key}_i"], out[f"ang_{key}_j"], out[f"ang_{key}_J"] = cat(centre), cat(neighbour), cat(J)
    return out


def moments_map(old: SurrogateParameters, new: SurrogateParameters) -> np.ndarray:
    """``T`` (n_new, n_old) with ``G_old = G_new @ T``: the fingerprint of ``old`` (the l = 1, 2
    angular moments) as a linear map of ``new``'s (the power spectrum, same radial and angular
    bases, ``ang_powers`` >= 2). Raises ValueError for any other pair of forms."""
    same_bases = old.fingerprint_dict() == {k: v for k, v in new.fingerprint_dict().items() if k != "ang_powers"}
    if old.ang_powers is not None or new.ang_powers is None or new.ang_powers < 2 or not same_bases \
            or old.na_na_ang is None or old.na_c_ang is None:
        raise ValueError("a network can be carried over only from the l = 1, 2 moments to the power "
                         "spectrum (powers >= 2) on the same bases")
    T = np.zeros((new.n_channels, old.n_channels))
    nr = old.n_radial
    T[:nr, :nr] = np.eye(nr)
    r_new, r_old = nr, nr
    for basis in (old.na_na_ang, old.na_c_ang):
        A = moments_from_power_spectrum(len(basis.mu_A), new.ang_powers)
        T[r_new:r_new + A.shape[1], r_old:r_old + A.shape[0]] = A.T
        r_new, r_old = r_new + A.shape[1], r_old + A.shape[0]
    return T


def carry_network(net: Network, T: np.ndarray, mean: np.ndarray, std: np.ndarray) -> Network:
    """``net`` (fitted on fingerprints ``G_old = G_new @ T``) as a network of ``G_new`` normalised by
    ``mean``, ``std``: the same energies, with zero first-layer weights on every input the old
    fingerprint did not use (a fine-tune starts from the old model and may use them)."""
    W1 = (std[:, None] * T / net.x_std[None, :]) @ net.weights[0]
    b1 = net.biases[0] + ((mean @ T - net.x_mean) / net.x_std) @ net.weights[0]
    return Network(mean.copy(), std.copy(), [W1, *net.weights[1:]], [b1, *net.biases[1:]])


class TorchModel:
    """The network and the force assembly in torch (same arithmetic as the numpy calculator)."""

    def __init__(self, n_in: int, hidden=HIDDEN, seed: int = 0):
        import torch

        g = torch.Generator().manual_seed(seed)
        sizes = [n_in, *hidden, 1]
        self.W = [torch.randn(a, b, generator=g, dtype=torch.float64) * (1.0 / np.sqrt(a)) for a, b in zip(sizes[:-1], sizes[1:])]
        self.b = [torch.zeros(b, dtype=torch.float64) for b in sizes[1:]]
        for t in self.W + self.b:
            t.requires_grad_(True)

    def parameters(self):
        return self.W + self.b

    def load(self, net: Network) -> None:
        """Set the weights and biases to those of ``net`` (same layer widths)."""
        import torch

        with torch.no_grad():
            for p_t, p_np in zip(self.W + self.b, net.weights + net.biases):
                p_t.copy_(torch.as_tensor(p_np))

    def energy(self, x):
        import torch

        h = x
        for W, b in zip(self.W[:-1], self.b[:-1]):
            h = torch.tanh(h @ W + b)
        return (h @ self.W[-1] + self.b[-1])[:, 0]


def to_torch(batch: dict, mean: np.ndarray, std: np.ndarray) -> dict:
    import torch

    t = {k: torch.as_tensor(v) for k, v in batch.items() if isinstance(v, np.ndarray)}
    t["X"] = (t["G"] - torch.as_tensor(mean)) / torch.as_tensor(std)
    t["std"] = torch.as_tensor(std)
    t["n_frames"] = batch["n_frames"]
    return t


def predict(model: TorchModel, t: dict, kn: int, create_graph: bool):
    import torch

    X = t["X"].clone().requires_grad_(True)
    e_i = model.energy(X)
    E = torch.zeros(t["n_frames"], dtype=torch.float64).index_add(0, t["frame_of"], e_i)
    (dEdX,) = torch.autograd.grad(e_i.sum(), X, create_graph=create_graph)
    dEdG = dEdX / t["std"]
    F = torch.zeros(len(X), 3, dtype=torch.float64)
    dEdr = (dEdG[t["nn_i"], :kn] * t["nn_dG"]).sum(1)
    f = dEdr[:, None] * t["nn_u"]
    F = F.index_add(0, t["nn_i"], f).index_add(0, t["nn_j"], -f)
    nr = kn + t["nc_dG"].shape[1]
    if len(t["nc_i"]):
        dEdr = (dEdG[t["nc_i"], kn:nr] * t["nc_dG"]).sum(1)
        F = F.index_add(0, t["nc_i"], dEdr[:, None] * t["nc_u"])
    col = nr
    for key in ("na", "c"):
        if f"ang_{key}_J" not in t:
            continue
        J = t[f"ang_{key}_J"]
        i = t[f"ang_{key}_i"]
        dEdD = (dEdG[i, col:col + J.shape[1], None] * J).sum(1)
        F = F.index_add(0, i, dEdD)
        if key == "na":
            F = F.index_add(0, t[f"ang_{key}_j"], -dEdD)
        col += J.shape[1]
    return E, F


def step_relative_errors(E, t):
    """Each grouped frame's energy error (eV) less its step group's mean error: the part of the
    error that reorders a step's candidates (a shift common to the group changes no choice)."""
    import torch

    g = t["group"]
    mask = g >= 0
    de = (E - t["e_target"])[mask]
    gi = g[mask]
    n_groups = int(gi.max()) + 1 if len(gi) else 0
    total = torch.zeros(n_groups, dtype=de.dtype).index_add(0, gi, de)
    size = torch.zeros(n_groups, dtype=de.dtype).index_add(0, gi, torch.ones_like(de))
    return de - (total / size)[gi]


def loss_terms(model, t, kn, f_weight, create_graph=True, rank_weight: float = 0.0,
               minimum_force_weight: float = 0.0):
    """(loss, energy term, force term, step-relative term): the weighted squared energy error
    per Na, ``f_weight`` times the mean squared Na force error, ``rank_weight`` times the mean
    squared step-relative energy error (eV^2, :func:`step_relative_errors`), and
    ``minimum_force_weight`` times the mean squared force error on the Na of SevenNet-0's minima
    (frames whose largest labelled Na force is under :data:`MINIMUM_FMAX_EV_A`: the surrogate
    should hold them as minima too)."""
    E, F = predict(model, t, kn, create_graph)
    de = (E - t["e_target"]) / t["n_na"]
    le = (t["w"] * de**2).sum() / t["w"].sum()
    df2 = ((F - t["f_target"]) ** 2).sum(1)
    lf = df2.mean()
    r = step_relative_errors(E, t)
    lr = (r**2).mean() if len(r) else E.new_zeros(())
    loss = le + f_weight * lf + rank_weight * lr
    if minimum_force_weight > 0 and bool(t["at_minimum"].any()):
        loss = loss + minimum_force_weight * df2[t["at_minimum"]].mean()
    return loss, le, lf, lr


def kind_errors(E, t: dict, kinds: list[str]) -> dict[str, tuple[float, float, int]]:
    """Unweighted energy RMSE per Na (meV) and frame count per frame kind, for frame energies ``E``
    (:func:`predict`)."""
    de = ((E - t["e_target"]) / t["n_na"]).detach().numpy()
    kinds = np.array(kinds)
    return {k: (float(np.sqrt((de[kinds == k] ** 2).mean()) * 1000), float(np.abs(de[kinds == k]).max() * 1000),
                int((kinds == k).sum())) for k in sorted(set(kinds))}


def fit(frames: list, epochs: int = 3000, f_weight: float = 0.02, seed: int = 0, log=print,
        val_frames: list | None = None, angular: bool = True, hidden: tuple[int, ...] = HIDDEN,
        weights: dict[str, float] | None = None, na_weight_cap: float | None = None,
        rank_weight: float = 0.0, init: Network | None = None, lr: float = 3e-3,
        init_source: str | None = None, angular_powers: int | None = None,
        init_form: SurrogateParameters | None = None, minimum_force_weight: float = 0.0) -> SurrogateParameters:
    """Fit one network (``epochs`` of full-batch Adam, cosine-annealed from ``lr``).

    ``rank_weight``: weight of the step-relative energy term (:func:`loss_terms`); ``init``: start
    from this network (its input normalisation and weights, e.g. a shipped member, to fine-tune
    it) instead of random weights drawn from ``seed``; ``init_source`` says where it came from (meta);
    ``angular_powers``: None for the l = 1, 2 angular moments, P for the angular power spectrum to
    power P (:func:`~nafill.workflows.backends.surrogate.model.power_spectrum`); ``init_form``: the
    fingerprint ``init`` was fitted on, when it differs from this fit's (the l = 1, 2 moments carried
    over to the power spectrum, :func:`carry_network`); ``minimum_force_weight``: weight of the
    force term at SevenNet-0's minima (:func:`loss_terms`)."""
    import torch

    if init is not None and init.hidden != list(hidden):
        raise ValueError(f"init network has hidden {init.hidden}; this fit {list(hidden)}")

    torch.manual_seed(seed)
    torch.set_num_threads(1)
    skeleton = fit_form(angular, angular_powers)
    t0 = time.perf_counter()
    weights = {**WEIGHTS, **(weights or {})}
    batch = build_batch(skeleton, frames, weights, na_weight_cap)
    mean = batch["G"].mean(0)
    std = batch["G"].std(0) + 1e-3
    if init is not None and init_form is not None and not init_form.same_fingerprint(skeleton):
        init = carry_network(init, moments_map(init_form, skeleton), mean, std)
    if init is not None:
        if init.x_mean.shape != mean.shape:
            raise ValueError(f"init network has {len(init.x_mean)} inputs; this fit {len(mean)}")
        mean, std = init.x_mean, init.x_std  # its own normalisation: the weights are fitted to it
    t = to_torch(batch, mean, std)
    vbatch = build_batch(skeleton, val_frames, weights, na_weight_cap) if val_frames else None
    tv = to_torch(vbatch, mean, std) if vbatch else None
    log(f"{len(frames)} frames, {len(batch['G'])} Na atoms ({int(batch['at_minimum'].sum())} in SevenNet-0's "
        f"minima), {len(batch['nn_i'])} Na-Na and {len(batch['nc_i'])} Na-C pairs ({time.perf_counter() - t0:.0f} s)")
    kn = len(NA_NA.mu_A)
    model = TorchModel(len(mean), hidden, seed=seed)
    with torch.no_grad():
        if init is None:  # start the output bias at the mean energy per Na
            model.b[-1][0] = float((batch["e_target"] / batch["n_na"]).mean())
        else:
            model.load(init)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(epochs, 1), eta_min=min(1e-5, lr))
    for ep in range(epochs):
        opt.zero_grad()
        loss, le, lf, lr_ = loss_terms(model, t, kn, f_weight, rank_weight=rank_weight,
                                       minimum_force_weight=minimum_force_weight)
        loss.backward()
        opt.step()
        sched.step()
        if ep % 200 == 0 or ep == epochs - 1:
            msg = (f"epoch {ep:5d}: E rmse/Na {le.item() ** 0.5 * 1000:.1f} meV (weighted), F rmse "
                   f"{lf.item() ** 0.5:.3f} eV/A, step-relative {lr_.item() ** 0.5 * 1000:.1f} meV")
            if tv is not None:
                _, lev, lfv, lrv = loss_terms(model, tv, kn, f_weight, create_graph=False)
                msg += f" | val {lev.item() ** 0.5 * 1000:.1f} meV, {lfv.item() ** 0.5:.3f} eV/A, {lrv.item() ** 0.5 * 1000:.1f} meV"
            log(msg + f" ({time.perf_counter() - t0:.0f} s)")
    for name, tt, b in (("train", t, batch), ("validation", tv, vbatch)):
        if tt is None:
            continue
        kinds = b["kinds"]
        E, F = predict(model, tt, kn, create_graph=False)
        at = tt["at_minimum"]
        if bool(at.any()):
            df = (F.detach() - tt["f_target"])[at]
            log(f"{name}: Na force RMSE at SevenNet-0's minima {float((df ** 2).sum(1).mean()) ** 0.5:.3f} eV/A "
                f"({int(at.sum())} Na)")
        log(f"{name}: energy error per Na by kind (unweighted): " + ", ".join(
            f"{k} {rmse:.0f}/{mx:.0f} meV rms/max (n={n})" for k, (rmse, mx, n) in kind_errors(E, tt, kinds).items()))
    net = Network(mean, std, [w.detach().numpy().copy() for w in model.W], [b.detach().numpy().copy() for b in model.b])
    return replace(
        skeleton, networks=[net], meta={"reference": "SevenNet-0 (7net-0, sevenn 0.13, no dispersion)", "n_frames": len(frames),
         "n_na_atoms": int(len(batch["G"])), "epochs": epochs, "force_weight": f_weight, "kind_weights": weights,
         "na_weight_cap": na_weight_cap, "rank_weight": rank_weight, "lr": lr,
         "minimum_force_weight": minimum_force_weight,
         "init": None if init is None else (init_source or "fine-tuned from a given network"),
         "hidden": list(hidden), "seed": seed, "angular": angular},
    )


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="fit the surrogate backend to SevenNet-0 labels")
    ap.add_argument("--data", type=Path, default=DATA_DIR)
    ap.add_argument("--out", type=Path, default=PARAMETERS_FILE)
    ap.add_argument("--epochs", type=int, default=3000)
    ap.add_argument("--force-weight", type=float, default=0.02)
    ap.add_argument("--radial-only", action="store_true", help="no angular moments (the form of fits a-f)")
    ap.add_argument("--angular-powers", type=int, default=None, metavar="P",
                    help="the angular power spectrum to power P (1-4) instead of the l = 1, 2 moments "
                         "(default: the moments; with --init, the file's form)")
    ap.add_argument("--weight", nargs="+", default=[], metavar="KIND=W",
                    help="loss weight of a frame kind instead of the default (WEIGHTS), e.g. bcc=600")
    ap.add_argument("--hidden", type=int, nargs="+", default=list(HIDDEN), metavar="N",
                    help=f"hidden layer widths of the per-Na network (default: {' '.join(map(str, HIDDEN))})")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0], metavar="N",
                    help="seeds of the networks' initial weights: one network per seed, fitted in turn, "
                         "shipped as a committee (their mean) when more than one; the validation split "
                         "stays seed 0 (default: 0)")
    ap.add_argument("--combine", type=Path, nargs="+", metavar="FILE",
                    help="no fit: write the committee of these parameter files (e.g. seeds fitted in "
                         "parallel, each with --seeds N --out FILE) to --out")
    ap.add_argument("--na-weight-cap", type=float, default=None, metavar="N",
                    help="cap the n_Na factor of a confined frame's weight at N (default: no cap)")
    ap.add_argument("--rank-weight", type=float, default=0.0, metavar="W",
                    help="weight of the step-relative energy term: the squared error of each relaxed "
                         "frame's energy less its step group's mean error, eV^2 (default: 0, off)")
    ap.add_argument("--init", type=Path, default=None, metavar="FILE",
                    help="fine-tune the networks of this parameter file instead of starting from "
                         "random weights: one member per network, its seed from the file's meta")
    ap.add_argument("--init-members", type=int, nargs="+", default=None, metavar="K",
                    help="with --init: fine-tune only these networks of FILE (0-based; default: all)")
    ap.add_argument("--lr", type=float, default=3e-3, help="initial Adam learning rate (default: 3e-3)")
    ap.add_argument("--minimum-force-weight", type=float, default=0.0, metavar="W",
                    help="weight of the squared force error on the Na of SevenNet-0's minima (frames "
                         "whose largest Na force is <= 0.01 eV/A), eV^2/A^2 (default: 0, off)")
    args = ap.parse_args(argv)
    if not (np.isfinite(args.rank_weight) and args.rank_weight >= 0):
        ap.error(f"--rank-weight {args.rank_weight}: must be a finite number >= 0")
    if not (np.isfinite(args.minimum_force_weight) and args.minimum_force_weight >= 0):
        ap.error(f"--minimum-force-weight {args.minimum_force_weight}: must be a finite number >= 0")
    if not (np.isfinite(args.lr) and args.lr > 0):
        ap.error(f"--lr {args.lr}: must be a finite number > 0")
    if args.angular_powers is not None and not 1 <= args.angular_powers <= 4:
        ap.error(f"--angular-powers {args.angular_powers}: must be 1-4")
    if args.angular_powers is not None and args.radial_only:
        ap.error("--angular-powers and --radial-only: the power spectrum is angular; give one of them")
    if args.init_members is not None and args.init is None:
        ap.error("--init-members needs --init FILE")
    if args.init is not None and args.combine:
        ap.error("--init and --combine: --combine fits nothing; give one of them")
    if args.init_members is not None and len(set(args.init_members)) != len(args.init_members):
        ap.error(f"--init-members {args.init_members}: each network once")
    init_nets = None
    if args.init is not None:
        if not args.init.is_file():
            ap.error(f"--init: no such parameter file: {args.init}")
        try:
            start = SurrogateParameters.from_dict(json.loads(args.init.read_text()))
        except (ValueError, KeyError, TypeError) as exc:
            ap.error(f"--init {args.init}: not a surrogate parameter file ({exc.__class__.__name__}: {exc})")
        metas = start.meta.get("members") or [start.meta]
        chosen = range(len(start.networks)) if args.init_members is None else args.init_members
        bad = [k for k in chosen if not 0 <= k < len(start.networks)]
        if bad:
            ap.error(f"--init-members {bad}: {args.init} has networks 0-{len(start.networks) - 1}")
        if args.angular_powers is None:
            args.angular_powers = start.ang_powers
        elif args.angular_powers != start.ang_powers:
            try:  # the carry-over the fit will make, checked before the data are read
                moments_map(start, fit_form(True, args.angular_powers))
            except ValueError as exc:
                ap.error(f"--angular-powers {args.angular_powers} with --init {args.init}: {exc}")
        for k in chosen:
            if start.networks[k].hidden != list(args.hidden):
                ap.error(f"--init {args.init}: network {k} has hidden layers {start.networks[k].hidden}; "
                         f"--hidden is {args.hidden}")
        digest = hashlib.sha1(args.init.read_bytes()).hexdigest()[:12]
        init_nets = [(int(metas[k].get("seed", k)) if k < len(metas) else k, start.networks[k],
                      f"network {k} of {args.init.name} (sha1 {digest})") for k in chosen]
    if args.na_weight_cap is not None and args.na_weight_cap < 1:
        ap.error(f"--na-weight-cap {args.na_weight_cap}: must be >= 1 (a frame's weight factor)")
    if min(args.hidden) < 1:  # nargs="+": never empty
        ap.error(f"--hidden {args.hidden}: each layer width must be an integer >= 1")
    if len(set(args.seeds)) != len(args.seeds):
        ap.error(f"--seeds {args.seeds}: each seed once (the same seed fits the same network)")
    if args.combine:
        missing = [str(f) for f in args.combine if not f.is_file()]
        if missing:
            ap.error(f"--combine: no such parameter file: {', '.join(missing)}")
        members = [SurrogateParameters.from_dict(json.loads(f.read_text())) for f in args.combine]
        try:
            params = committee(members)
        except ValueError as exc:
            ap.error(f"--combine: {exc}")
        args.out.write_text(json.dumps(params.as_dict()))
        print(f"wrote {args.out} ({len(params.networks)} networks)")
        return
    weights = {}
    for item in args.weight:
        kind, _, value = item.partition("=")
        try:
            weights[kind] = float(value)
        except ValueError:
            ap.error(f"--weight {item!r} must be KIND=NUMBER")
    frames = read_frames(args.data, "train")
    train, valid = split_frames(frames)
    starts = init_nets if init_nets is not None else [(seed, None, None) for seed in args.seeds]
    members = [fit(train, args.epochs, args.force_weight, seed=seed, val_frames=valid, angular=not args.radial_only,
                   hidden=tuple(args.hidden), weights=weights, na_weight_cap=args.na_weight_cap,
                   rank_weight=args.rank_weight, init=net, lr=args.lr, init_source=source,
                   angular_powers=args.angular_powers, init_form=start if init_nets else None,
                   minimum_force_weight=args.minimum_force_weight)
               for seed, net, source in starts]
    params = members[0] if len(members) == 1 else committee(members)
    args.out.write_text(json.dumps(params.as_dict()))
    print(f"wrote {args.out} ({len(params.networks)} networks)")


if __name__ == "__main__":
    main()
