// What a cloud VM knows about itself, from the provider's instance metadata service. Asked only
// when the operator names the provider (--cloud-metadata): an agent on a laptop or a bare-metal
// host must not send packets to 169.254.169.254 on its own. The endpoint is configurable so the
// client can be tested against a local server.
//
//   aws    IMDSv2: PUT /latest/api/token (X-aws-ec2-metadata-token-ttl-seconds) → token, then
//          GET /latest/dynamic/instance-identity/document with X-aws-ec2-metadata-token
//          (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instance-identity-documents.html)
//   azure  GET /metadata/instance?api-version=2021-02-01 with `Metadata: true` → compute.{vmId,
//          subscriptionId, location, zone}
//   gcp    GET /computeMetadata/v1/instance/id, …/instance/zone ("projects/N/zones/Z") and
//          …/project/project-id with `Metadata-Flavor: Google`

export type CloudProvider = 'aws' | 'azure' | 'gcp';
export const CLOUD_PROVIDERS: readonly CloudProvider[] = ['aws', 'azure', 'gcp'];

export const DEFAULT_METADATA_ENDPOINT: Record<CloudProvider, string> = {
  aws: 'http://169.254.169.254',
  azure: 'http://169.254.169.254',
  gcp: 'http://metadata.google.internal',
};

export interface InstanceIdentity {
  instanceId?: string;
  accountId?: string;
  region?: string;
  zone?: string;
}

export async function fetchInstanceIdentity(
  provider: CloudProvider,
  endpoint = DEFAULT_METADATA_ENDPOINT[provider],
  timeoutMs = 2000,
): Promise<InstanceIdentity> {
  const base = endpoint.replace(/\/+$/, '');
  const get = async (path: string, init: RequestInit = {}): Promise<Response> => {
    const r = await fetch(`${base}${path}`, { ...init, signal: AbortSignal.timeout(timeoutMs) });
    if (!r.ok) throw new Error(`${provider} metadata ${path}: HTTP ${r.status}`);
    return r;
  };
  switch (provider) {
    case 'aws': {
      const token = await (
        await get('/latest/api/token', {
          method: 'PUT',
          headers: { 'X-aws-ec2-metadata-token-ttl-seconds': '21600' },
        })
      ).text();
      const doc = (await (
        await get('/latest/dynamic/instance-identity/document', { headers: { 'X-aws-ec2-metadata-token': token } })
      ).json()) as Record<string, unknown>;
      return {
        instanceId: str(doc.instanceId),
        accountId: str(doc.accountId),
        region: str(doc.region),
        zone: str(doc.availabilityZone),
      };
    }
    case 'azure': {
      const doc = (await (
        await get('/metadata/instance?api-version=2021-02-01', { headers: { Metadata: 'true' } })
      ).json()) as { compute?: Record<string, unknown> };
      const c = doc.compute ?? {};
      return {
        instanceId: str(c.vmId),
        accountId: str(c.subscriptionId),
        region: str(c.location),
        zone: str(c.zone) || undefined,
      };
    }
    case 'gcp': {
      // Text endpoints, not ?recursive=true JSON: instance ids are 19-digit numbers that a JSON
      // number would round (2^53 ≈ 9.0e15).
      const h = { headers: { 'Metadata-Flavor': 'Google' } };
      const text = async (path: string) => (await (await get(path, h)).text()).trim() || undefined;
      const instanceId = await text('/computeMetadata/v1/instance/id');
      const zone = (await text('/computeMetadata/v1/instance/zone'))?.split('/').pop();
      const project = await text('/computeMetadata/v1/project/project-id');
      return { instanceId, accountId: project, zone, region: zone?.replace(/-[a-z]$/, '') };
    }
  }
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}
