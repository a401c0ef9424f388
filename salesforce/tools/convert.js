// Convert the SFDX project (source format, every package directory) to Metadata API format with Salesforce's own
// library, as `sf project convert source` does, and print the package manifest it wrote.
// Usage: node convert.js <project dir> <output dir>
'use strict';
const path = require('node:path');
const fs = require('node:fs');
const { ComponentSet, MetadataConverter } = require('@salesforce/source-deploy-retrieve');

async function main() {
  const [project, output] = process.argv.slice(2);
  if (!project || !output) {
    console.error('usage: node convert.js <project dir> <output dir>');
    process.exit(2);
  }
  const settings = JSON.parse(fs.readFileSync(path.join(project, 'sfdx-project.json'), 'utf8'));
  const components = ComponentSet.fromSource({
    fsPaths: settings.packageDirectories.map((directory) => path.join(project, directory.path)),
  });
  components.sourceApiVersion = settings.sourceApiVersion;
  const result = await new MetadataConverter().convert(components, 'metadata', {
    type: 'directory',
    outputDirectory: output,
    packageName: 'sovgw',
    genUniqueDir: false,
  });
  const manifest = path.join(result.packagePath, 'package.xml');
  process.stdout.write(fs.readFileSync(manifest, 'utf8'));
}

main().catch((error) => {
  console.error(error.stack || String(error));
  process.exit(1);
});
