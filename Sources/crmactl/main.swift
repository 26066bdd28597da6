print("crmactl")
