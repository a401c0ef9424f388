"""The embedded local sovereign stack: LocalStack, the Salesforce simulator, the model endpoint
and a runner that feeds the real handlers from EventBridge rules through SQS."""
