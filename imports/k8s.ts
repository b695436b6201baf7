// Kubernetes 1.27 API classes. `cdk8s import k8s` downloads the schema, which a build machine
// without internet cannot do; cdk8s-plus-27 ships the same generated classes, so re-export them.
export * from 'cdk8s-plus-27/lib/imports/k8s';
