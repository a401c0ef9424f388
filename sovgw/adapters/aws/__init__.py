"""AWS adapters, one module per service and concern: SageMaker runtime (``sagemaker``), the S3
audit sink (``audit``), EventBridge and SQS dead letters (``events``), Secrets Manager
(``secrets``), break-glass access in IAM, STS, EventBridge and Scheduler (``break_glass``), and
the mapping of AWS errors to the domain's (``errors``).

Clients are created by the caller (one per region) so the same code runs in Lambda and
against LocalStack; nothing here reads the environment.
"""
