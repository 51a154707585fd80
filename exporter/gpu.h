/* gpu: the metric families both GPU collectors (gpu_nvml, gpu_amd) fill, with one
 * name and help each, so a host with both vendors exposes one family per metric. */
#ifndef HOMEOSTAT_EXPORTER_GPU_H
#define HOMEOSTAT_EXPORTER_GPU_H

#define GPU_INFO "homeostat_gpu_info"
#define GPU_INFO_HELP "GPU identity (vendor, model name, UUID); always 1."
#define GPU_UTIL "homeostat_gpu_utilization_ratio"
#define GPU_UTIL_HELP "Fraction of the driver's last sample period the GPU was busy (0..1)."
#define GPU_MEM_USED "homeostat_gpu_memory_used_bytes"
#define GPU_MEM_USED_HELP "GPU memory (VRAM) in use, in bytes."
#define GPU_MEM_TOTAL "homeostat_gpu_memory_total_bytes"
#define GPU_MEM_TOTAL_HELP "GPU memory (VRAM) in total, in bytes."
#define GPU_TEMP "homeostat_gpu_temperature_celsius"
#define GPU_TEMP_HELP "GPU temperature in degrees Celsius (NVML GPU sensor, amdgpu temp1)."
#define GPU_POWER "homeostat_gpu_power_watts"
#define GPU_POWER_HELP "GPU power draw in watts (NVML power usage, amdgpu power1)."
#define GPU_POWER_LIMIT "homeostat_gpu_power_limit_watts"
#define GPU_POWER_LIMIT_HELP "GPU power limit in watts (NVML enforced limit, amdgpu power1_cap)."

#endif
