#!/usr/bin/env python3
"""Converts the small datasets that Debian's python3-sklearn package ships
(sklearn/datasets/data/) into plain CSV files with one header row, the
features first and a last column `target`, for ps_prepare. Python stdlib only.

Usage: tools/sklearn_to_csv.py --data_dir=DIR --out_dir=OUT
where DIR is sklearn/datasets/data from the package, e.g. after
  apt-get download python3-sklearn && dpkg-deb -x python3-sklearn_*.deb x
  DIR=x/usr/lib/python3/dist-packages/sklearn/datasets/data
It writes OUT/{wine,iris,breast_cancer,diabetes,digits}.csv.
"""
import argparse
import csv
import gzip
import os
import sys

WINE = ["alcohol", "malic_acid", "ash", "alcalinity_of_ash", "magnesium",
        "total_phenols", "flavanoids", "nonflavanoid_phenols",
        "proanthocyanins", "color_intensity", "hue",
        "od280_od315_of_diluted_wines", "proline"]
IRIS = ["sepal_length_cm", "sepal_width_cm", "petal_length_cm",
        "petal_width_cm"]
_CANCER_BASE = ["radius", "texture", "perimeter", "area", "smoothness",
                "compactness", "concavity", "concave_points", "symmetry",
                "fractal_dimension"]
CANCER = ([f"mean_{n}" for n in _CANCER_BASE] +
          [f"{n}_error" for n in _CANCER_BASE] +
          [f"worst_{n}" for n in _CANCER_BASE])
DIABETES = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
DIGITS = [f"pixel_{r}_{c}" for r in range(8) for c in range(8)]


def read_sklearn_csv(path):
    """sklearn's own layout: a first line 'rows,features,class names...',
    then rows of features with the integer class last."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    n, d = int(rows[0][0]), int(rows[0][1])
    body = rows[1:]
    if len(body) != n or any(len(r) != d + 1 for r in body):
        sys.exit(f"{path}: expected {n} rows of {d + 1} columns")
    return body


def write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header + ["target"])
        w.writerows(rows)
    print(f"{path}: {len(rows)} rows, {len(header)} features")


def diabetes_rows(data_dir):
    with gzip.open(os.path.join(data_dir, "diabetes_data_raw.csv.gz"),
                   "rt") as f:
        x = [line.split() for line in f if line.strip()]
    with gzip.open(os.path.join(data_dir, "diabetes_target.csv.gz"),
                   "rt") as f:
        y = [line.split()[0] for line in f if line.strip()]
    if len(x) != len(y) or any(len(r) != len(DIABETES) for r in x):
        sys.exit("diabetes: data and target files disagree")
    return [r + [str(int(float(t)))] for r, t in zip(x, y)]


def digits_rows(data_dir):
    with gzip.open(os.path.join(data_dir, "digits.csv.gz"), "rt") as f:
        rows = [r for r in csv.reader(f) if r]
    if any(len(r) != len(DIGITS) + 1 for r in rows):
        sys.exit("digits: expected 65 columns per row")
    return [[str(int(float(v))) for v in r] for r in rows]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data_dir", required=True)
    p.add_argument("--out_dir", required=True)
    a = p.parse_args()
    os.makedirs(a.out_dir, exist_ok=True)
    d, o = a.data_dir, a.out_dir
    write_csv(os.path.join(o, "wine.csv"), WINE,
              read_sklearn_csv(os.path.join(d, "wine_data.csv")))
    write_csv(os.path.join(o, "iris.csv"), IRIS,
              read_sklearn_csv(os.path.join(d, "iris.csv")))
    write_csv(os.path.join(o, "breast_cancer.csv"), CANCER,
              read_sklearn_csv(os.path.join(d, "breast_cancer.csv")))
    write_csv(os.path.join(o, "diabetes.csv"), DIABETES, diabetes_rows(d))
    write_csv(os.path.join(o, "digits.csv"), DIGITS, digits_rows(d))


if __name__ == "__main__":
    main()
