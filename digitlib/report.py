"""The capstone report's published numbers (Amundson 2017) and Goodfellow et al.'s benchmark.

These are *quoted*, not computed: the book prints them beside the numbers our code produced, each
labelled with where it comes from. "digit accuracy" in the report is the mean per-position
accuracy (blanks included, see :mod:`digitlib.metrics`).
"""

REPORT = {
    # its Fig. 12 network on 40,000/4,000 MNIST sequences
    "mnist_cnn": {"position_accuracy": 0.9785, "sequence_accuracy": 0.89625},
    # its Fig. 13 single Inception module, and the variant with more layers
    "inception_cnn": {"position_accuracy": 0.94815, "sequence_accuracy": 0.76775},
    "inception_deeper": {"position_accuracy": 0.95325, "sequence_accuracy": 0.7875},
    # its Fig. 14 network on real SVHN (Fig. 18 table)
    "svhn_test": {"position_accuracy": 0.962, "sequence_accuracy": 0.849, "mean_iou": 0.706},
    "svhn_train_first_10000": {"position_accuracy": 0.947, "sequence_accuracy": 0.803, "mean_iou": 0.660},
    "svhn_parameters": 900_000,  # "less than 900,000 parameters"
}

#: its Fig. 15: sequence accuracy and IoU (validation) against the weight of the box loss
REPORT_BOX_WEIGHTS = {
    1.0: {"sequence_accuracy": 0.82, "mean_iou": 0.584},
    2.0: {"sequence_accuracy": 0.81, "mean_iou": 0.609},
    10.0: {"sequence_accuracy": 0.81, "mean_iou": 0.685},
    20.0: {"sequence_accuracy": 0.74, "mean_iou": 0.688},
    50.0: {"sequence_accuracy": 0.185, "mean_iou": 0.690},
}

#: Goodfellow et al. (2013) on SVHN, with about 50 million parameters
GOODFELLOW = {"character_accuracy": 0.9784, "sequence_accuracy": 0.9603, "parameters": 50_000_000}

#: digits and images per SVHN split as it quotes them ("Data Exploration")
REPORT_SVHN_COUNTS = {
    "train": {"digits": 73_257, "images": 33_402},
    "test": {"digits": 26_032, "images": 13_068},
    "extra": {"digits": 531_131, "images": 202_353},
}

#: its mean width-to-height ratio of the cropped digit region (Fig. 7)
REPORT_ASPECT_RATIOS = {"train": 0.99, "extra": 1.23, "test": 1.02}

#: real SVHN's leading digits 1-9, % of the images of each format-1 split (train: 33,402 images,
#: test: 13,068), counted from SVHN's published ``digitStruct.mat`` annotations (the numbers quoted
#: in this project's issue tracker; the report plots the histogram without numbers). A leading 0
#: occurs in 0.3% (train) and 0.1% (test) of the images, so the rows sum to just under 100.
SVHN_LEADING_DIGIT_PERCENT = {
    "train": (27.7, 18.9, 13.0, 10.5, 8.5, 6.4, 5.6, 4.7, 4.3),
    "test": (28.3, 20.3, 12.4, 9.5, 8.1, 6.6, 5.7, 4.8, 4.3),
}
