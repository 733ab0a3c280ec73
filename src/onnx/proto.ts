/** onnx-proto is CommonJS with one namespace export; this re-exports it for ESM callers. */
import onnxProto from 'onnx-proto';

export const onnx = onnxProto.onnx;
export type { onnx as OnnxTypes } from 'onnx-proto';
