"""Fine-tuning pipeline: Label Studio annotations -> aligned windows -> trained, evaluated, stored model version.

Pure parts (annotations, alignment) import nothing heavy; `pipeline.run_training` ties the steps together.
"""
