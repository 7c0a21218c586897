//! # lnopt-onnx: ONNX protobuf import and export (being written).
